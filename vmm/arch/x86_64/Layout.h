// Where things live in guest-physical memory on x86_64. The low 1 MiB follows the PC
// conventions Linux expects (EBDA/MP table just below 640 KiB, ACPI in the BIOS area);
// RAM above 3 GiB moves to 4 GiB so [3 GiB, 4 GiB) is free for the PCI and APIC windows.
#pragma once

#include <cstdint>

namespace mica::x86 {

constexpr uint64_t kGdtAddr = 0x500;          // boot GDT, then a null IDT after it
constexpr uint64_t kIdtAddr = 0x520;
constexpr uint64_t kPvhStartInfoAddr = 0x6000;  // hvm_start_info, module list and memory map
constexpr uint64_t kZeroPageAddr = 0x7000;    // Linux boot_params
constexpr uint64_t kBootStackTop = 0x8ff0;
constexpr uint64_t kPml4Addr = 0x9000;        // identity page tables for the first 4 GiB
constexpr uint64_t kPdptAddr = 0xa000;
constexpr uint64_t kPdAddr = 0xb000;          // four page directories, 0xb000-0xefff
constexpr uint64_t kCmdlineAddr = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;
constexpr uint64_t kEbdaStart = 0x9fc00;      // reserved up to 640 KiB; the MP table lives here
constexpr uint64_t kLowRamEnd = 0xa0000;      // 640 KiB: VGA hole and BIOS area above
constexpr uint64_t kBiosAreaStart = 0xe0000;  // reserved: the ACPI tables
constexpr uint64_t kRsdpAddr = 0xe0000;
constexpr uint64_t kAcpiTablesAddr = 0xe1000;
constexpr uint64_t kHighMemoryStart = 0x100000;  // 1 MiB: kernels load here
constexpr uint64_t kKernelLoadAddr = 0x100000;

constexpr uint64_t kMmioHoleStart = 0xc0000000;  // 3 GiB: RAM stops here below 4 GiB
constexpr uint64_t kRamAbove4g = 0x100000000;
// PCI: BARs in [3 GiB, 3.5 GiB), ECAM space for buses 0-255 above it, a 64-bit window
// above RAM. Only bus 0 exists (no bridges), and MCFG and _CRS say so: Linux takes the
// MCFG end bus as the last bus to probe for peer host bridges, and each of those 8192
// probes is a VM exit.
constexpr uint64_t kPciMmio32Base = 0xc0000000;
constexpr uint64_t kPciMmio32Size = 0x20000000;
constexpr uint64_t kPciEcamBase = 0xe0000000;
constexpr uint64_t kPciEcamSize = 0x10000000;
constexpr uint8_t kPciBusEnd = 0;
constexpr uint64_t kPciMmio64Size = 64ull << 30;
constexpr uint64_t kIdentityMapAddr = 0xfffbc000;  // KVM's pages for real mode on Intel
constexpr uint64_t kTssAddr = 0xfffbd000;
constexpr uint64_t kIoapicAddr = 0xfec00000;
constexpr uint64_t kLapicAddr = 0xfee00000;

// ACPI fixed hardware and the reset register, shared by the tables and the devices.
constexpr uint16_t kPmEventPort = 0x600;
constexpr uint16_t kPmControlPort = 0x604;
constexpr uint8_t kSciIrq = 9;
constexpr uint8_t kS5SleepType = 5;
// ACPI PCI hotplug: the GED's event byte and its interrupt (ISA IRQ 5: free, edge and
// active high as ISA lines are, so the MADT needs no override), and the 16 bytes of PCI
// hotplug registers (PciHotplugController).
constexpr uint16_t kPciHotplugPort = 0xae00;
constexpr uint16_t kGedPort = 0xae10;
constexpr uint8_t kGedGsi = 5;
constexpr uint16_t kCom1Port = 0x3f8;
constexpr uint8_t kCom1Irq = 4;

}  // namespace mica::x86
