// The host side of <interface type='ethernet'|'bridge'>: a persistent TAP device the
// daemon creates before the VMM starts (the VMM opens it by name), brings up, attaches
// to a bridge, and deletes when the domain stops.
#pragma once

#include <optional>
#include <string>

namespace mica::process {

// Creates the TAP (or reuses an existing one: then it is not ours to delete) with the
// flags mica-vmm opens it with. Returns whether this call created it. Throws
// std::runtime_error naming the interface.
bool createTap(const std::string& name, unsigned queuePairs, const std::string& bridge,
               std::optional<unsigned> mtu);
// Deletes a TAP createTap made; errors are ignored (it may be gone already).
void deleteTap(const std::string& name);

}  // namespace mica::process
