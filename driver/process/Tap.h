// The host side of <interface type='ethernet'|'bridge'>: a persistent TAP device the
// daemon creates before the VMM starts, brings up, attaches to a bridge, and deletes
// when the domain stops. The daemon also opens its queues and hands the VMM the fds
// (SCM_RIGHTS with vm.create), so the VMM needs neither /dev/net/tun nor CAP_NET_ADMIN.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::process {

// Creates the TAP (or reuses an existing one: then it is not ours to delete) with the
// flags mica-vmm opens it with. Returns whether this call created it. Throws
// std::runtime_error naming the interface.
bool createTap(const std::string& name, unsigned queuePairs, const std::string& bridge,
               std::optional<unsigned> mtu);
// Opens the TAP's queues, one fd per queue pair, with the flags createTap used (the VMM
// checks IFF_VNET_HDR). Throws std::runtime_error naming the interface.
std::vector<UniqueFd> openTapQueues(const std::string& name, unsigned queuePairs);
// Whether a network interface of that name exists.
bool tapExists(const std::string& name);
// Deletes a TAP createTap made; errors are ignored (it may be gone already).
void deleteTap(const std::string& name);

}  // namespace mica::process
