// The DSDT's AML: what the guest's ACPI interpreter learns beyond the fixed tables.
// Deliberately small: the S5 sleep type for power-off, COM1, and the PCI host bridge
// (with a motherboard device reserving its ECAM) once the platform has PCI, and the ACPI
// PCI hotplug objects (GED, PHPR, a slot object per slot) when the platform has them.
#pragma once

#include "LeBytes.h"
#include "PlatformDesc.h"

namespace mica::x86 {

// The DSDT's term list, without the 36-byte table header.
Bytes dsdtAml(const PlatformDesc& platform);

}  // namespace mica::x86
