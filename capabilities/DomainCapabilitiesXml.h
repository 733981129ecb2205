// The `domainCapabilities` document (virsh domcapabilities) for kvm/x86_64/mica.
//
// Written for libvirt 9.0's domaincaps.rng (Debian 12): elements libvirt added later
// (interface, console, launchSecurity, async-teardown, ...) would make the document
// invalid for the clients we serve, so they are left out. Every supported='yes' needs
// both the host and mica-vmm to have the thing.
#pragma once

#include <string>

#include "HostProbe.h"

namespace mica::caps {

std::string formatDomainCapabilities(const HostInfo& host);

}  // namespace mica::caps
