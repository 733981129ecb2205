// What the VMM tells the table builders (ACPI, MP) about the platform it set up. The
// builders only describe; the devices behind these ports and addresses live elsewhere.
#pragma once

#include <cstdint>
#include <vector>

namespace mica::x86 {

struct PlatformDesc {
    unsigned cpus = 1;              // boot vCPUs; APIC ids 0..cpus-1 (enabled)
    unsigned maxCpus = 1;           // >= cpus; APIC ids cpus..maxCpus-1 listed but not enabled (hotplug later)
    uint32_t ioapicAddr = 0xfec00000; uint8_t ioapicId = 0;   // in-kernel KVM IOAPIC, 24 pins, GSI base 0
    uint32_t lapicAddr = 0xfee00000;
    uint16_t pmEventPort = 0x600;   // PM1a_EVT_BLK, 4 bytes: PM1_STS (2) + PM1_EN (2)
    uint16_t pmControlPort = 0x604; // PM1a_CNT_BLK, 2 bytes: SCI_EN bit0, SLP_TYP bits 10-12, SLP_EN bit 13
    uint8_t  sciIrq = 9;            // SCI, ISA IRQ 9, level triggered, active high (MADT interrupt source override)
    uint16_t resetPort = 0x64; uint8_t resetValue = 0xfe;  // FADT RESET_REG (I/O space), handled by the i8042
    uint8_t  s5SlpTyp = 5;          // \_S5_ package value; guest writes SLP_TYP=this | SLP_EN to power off
    // Optional PCI (left zero for now; the PCI issue fills it): ECAM base and bus range -> MCFG + PCI0 in DSDT
    uint64_t pciEcamBase = 0; uint8_t pciBusStart = 0, pciBusEnd = 0;
    uint32_t pciMmio32Base = 0, pciMmio32Size = 0;          // 32-bit MMIO window for PCI0 _CRS
    uint64_t pciMmio64Base = 0, pciMmio64Size = 0;
    bool serialCom1 = true;         // DSDT COM1 device (PNP0501, IO 0x3f8-0x3ff, IRQ 4)
    // ACPI PCI hotplug (needs PCI), off when pciHotplugPort is 0: the GED's event byte at
    // gedPort and its edge interrupt gedGsi (\_SB.GED_), the 16 bytes of PCI hotplug
    // registers at pciHotplugPort (\_SB.PHPR), and an ejectable object per slot 1-31.
    uint16_t gedPort = 0; uint8_t gedGsi = 0;
    uint16_t pciHotplugPort = 0;
};

// Throws std::invalid_argument naming the first field the table builders cannot describe
// (no CPU, cpus > maxCpus, an SCI that is not an ISA IRQ, SLP_TYP past 3 bits, an empty
// PCI bus range, a window that wraps, hotplug without PCI or with a GSI past the IOAPIC).
void validate(const PlatformDesc& platform);

// A piece of guest memory to fill: copy `bytes` to guest physical address `gpa`.
struct Blob {
    uint64_t gpa;
    std::vector<uint8_t> bytes;
};

}  // namespace mica::x86
