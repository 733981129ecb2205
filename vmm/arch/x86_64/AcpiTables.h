// The ACPI tables a legacy-PC style guest reads at boot: RSDP -> XSDT (and RSDT) ->
// FADT (-> FACS, DSDT), MADT, and MCFG when there is PCI. They describe the platform of
// PlatformDesc: full (not hardware-reduced) ACPI with fixed PM1 registers in I/O space,
// always in ACPI mode (no SMI command port), reset through RESET_REG.
#pragma once

#include <cstdint>
#include <vector>

#include "PlatformDesc.h"

namespace mica::x86 {

// RSDP at rsdpGpa (16-byte aligned; Linux scans 0xe0000-0xfffff for it), the other
// tables packed from tablesGpa upward (FACS 64-byte aligned), in that order: DSDT, FACS,
// FADT, MADT, MCFG (only with pciEcamBase), XSDT, and an RSDT when every table lies below
// 4 GiB. Returns the RSDP blob first, then one blob per table in rising address order,
// every checksum filled in. Throws std::invalid_argument for an unusable description or
// placement (misaligned RSDP, RSDP overlapping the tables, cpus > maxCpus, ...).
std::vector<Blob> buildAcpiTables(const PlatformDesc& platform, uint64_t rsdpGpa, uint64_t tablesGpa);

}  // namespace mica::x86
