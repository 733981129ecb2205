// The one check of a VmConfig, whichever way it came: the command line, vm.create, a
// snapshot's config.json at restore (and, later, a hotplugged device). Parsers only
// read syntax and types; every rule about values lives here, so the ways in agree.
#pragma once

#include "HostLimits.h"
#include "VmConfig.h"
#include "VmConfigJson.h"

namespace mica {

// Completes what may be left out (each PCI device's id and slot, see PciDeviceConfig)
// and checks every rule. Throws ConfigError naming the field by its JSON path, e.g.
// "disks[1].num_queues: must be between 1 and 64". Running it again on its own result
// changes nothing. Last, the host's limits (HostLimits.h): what the configuration asks
// for must exist on `limits`' host.
void validateConfig(VmConfig& config, const HostLimits& limits = thisHost());

// "0000:00:05.0" for slot 5 on bus 0 (what vm.info and libvirt's XML call a BDF).
std::string pciBdf(unsigned slot);

}  // namespace mica
