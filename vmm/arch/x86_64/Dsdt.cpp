#include "Dsdt.h"

#include "Aml.h"

namespace mica::x86 {

using namespace aml;

namespace {

Bytes com1()
{
    ResourceTemplate crs;
    crs.io(0x3f8, 0x3f8, 0x01, 8).irqNoFlags(4);
    return device("COM1", seq(name("_HID", eisaId("PNP0501")),
                              name("_UID", integer(1)),
                              name("_CRS", crs.buffer())));
}

uint64_t ecamStart(const PlatformDesc& p)
{
    // pciEcamBase is where bus 0 would be, as in MCFG; each bus takes 1 MiB.
    return p.pciEcamBase + (uint64_t{p.pciBusStart} << 20);
}

uint64_t ecamEnd(const PlatformDesc& p)
{
    return p.pciEcamBase + ((uint64_t{p.pciBusEnd} + 1) << 20) - 1;
}

Bytes pciHostBridge(const PlatformDesc& p)
{
    ResourceTemplate crs;
    crs.wordBusNumber(p.pciBusStart, p.pciBusEnd)
        .io(0x0cf8, 0x0cf8, 0x01, 8)    // the bridge's own config ports, not a window
        .wordIo(0x0000, 0x0cf7)
        .wordIo(0x0d00, 0xffff);
    if (p.pciMmio32Size != 0)
        crs.dwordMemory(p.pciMmio32Base, static_cast<uint32_t>(p.pciMmio32Base + (p.pciMmio32Size - 1)), false);
    if (p.pciMmio64Size != 0)
        crs.qwordMemory(p.pciMmio64Base, p.pciMmio64Base + (p.pciMmio64Size - 1), true);
    return device("PCI0", seq(name("_HID", eisaId("PNP0A08")),
                              name("_CID", eisaId("PNP0A03")),
                              name("_SEG", integer(0)),
                              name("_BBN", integer(p.pciBusStart)),
                              name("_UID", integer(0)),
                              name("_CRS", crs.buffer())));
}

// Linux uses MMCONFIG only when the ECAM range is reserved by a motherboard resource
// (PNP0C02) or in the E820 map; reserving it here keeps that independent of E820.
Bytes motherboardResources(const PlatformDesc& p)
{
    ResourceTemplate crs;
    if (ecamEnd(p) <= UINT32_MAX)
        crs.memory32Fixed(static_cast<uint32_t>(ecamStart(p)), static_cast<uint32_t>(ecamEnd(p) - ecamStart(p) + 1));
    else
        crs.qwordMemory(ecamStart(p), ecamEnd(p), false, true, Usage::Consumer);
    return device("MBRD", seq(name("_HID", eisaId("PNP0C02")),
                              name("_UID", integer(0)),
                              name("_CRS", crs.buffer())));
}

}  // namespace

Bytes dsdtAml(const PlatformDesc& p)
{
    Bytes systemBus;
    if (p.serialCom1)
        appendBytes(systemBus, com1());
    if (p.pciEcamBase != 0) {
        appendBytes(systemBus, pciHostBridge(p));
        appendBytes(systemBus, motherboardResources(p));
    }
    return seq(
        // SLP_TYPa, SLP_TYPb, two reserved: what the guest writes to PM1a_CNT to power off.
        name("\\_S5_", package({integer(p.s5SlpTyp), integer(p.s5SlpTyp), integer(0), integer(0)})),
        // The OS reports its interrupt model here; there is only the IOAPIC, nothing to switch.
        method("\\_PIC", 1, false, {}),
        scope("\\_SB_", systemBus));
}

}  // namespace mica::x86
