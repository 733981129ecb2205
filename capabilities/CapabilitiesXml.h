// The host `capabilities` document (virsh capabilities).
#pragma once

#include <string>

#include "HostProbe.h"

namespace mica::caps {

// vcpu limit for guests: the smaller of KVM's and the VMM's, 0 when either is unknown.
unsigned guestVcpuLimit(const HostInfo& host);

std::string formatCapabilities(const HostInfo& host);

}  // namespace mica::caps
