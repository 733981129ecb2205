// The Intel MultiProcessor Specification 1.4 tables: how a guest booted with acpi=off
// (or an OS without ACPI) finds the CPUs, the IOAPIC and the ISA interrupt routing.
#pragma once

#include <cstdint>
#include <vector>

#include "PlatformDesc.h"

namespace mica::x86 {

// One blob at fpsGpa (16-byte aligned; Linux looks at the last KiB of base memory
// 0x9fc00, at 0xf0000-0xfffff and in the EBDA): the 16-byte floating pointer, then the
// configuration table right after it. Its size grows by 20 bytes per CPU (about 0.5 KiB
// for 8 CPUs), so the caller checks it fits where it puts it (below 0xa0000 at 0x9fc00).
// Lists processors 0..maxCpus-1 (those >= cpus disabled; ids above 254 are beyond the
// format and left out), the ISA bus, the IOAPIC, ISA IRQs 0-15 on IOAPIC pins (IRQ0 on
// pin 2, so IRQ2, the 8259 cascade, has no entry) and LINT0 ExtINT / LINT1 NMI on every CPU.
// Throws std::invalid_argument for a misaligned or above-4-GiB placement.
std::vector<Blob> buildMpTable(const PlatformDesc& platform, uint64_t fpsGpa);

}  // namespace mica::x86
