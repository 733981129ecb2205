#include "Dsdt.h"

#include <cstdio>
#include <string>

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

// The names the hotplug objects share (the device's register layout is
// PciHotplugController's: PCIU 0, PCID 4, B0EJ 8, PSEG 0xc, all DWords).
constexpr std::string_view kPhpr = "\\_SB_.PHPR";
constexpr unsigned kPciSlots = 32;
constexpr uint64_t kDeviceCheck = 1, kEjectRequest = 3;   // Notify values, ACPI 6.4 5.6.6

// Ejectable slot objects in the host bridge: acpiphp finds slots by _ADR and _EJ0, and
// names them /sys/bus/pci/slots/<_SUN>. No _STA: Linux reads config space for presence.
// DVNT(bitmap, code) notifies each slot whose bit is set; PCNT reads (and so clears) the
// up and down bitmaps once each.
Bytes pciHotplugSlots()
{
    Bytes slots, dvnt;
    for (unsigned n = 1; n < kPciSlots; ++n) {
        char slotName[5];
        std::snprintf(slotName, sizeof slotName, "S%03u", n);
        appendBytes(slots, device(slotName, seq(name("_SUN", integer(n)), name("_ADR", integer(uint64_t{n} << 16)),
                                                method("_EJ0", 1, false, call(std::string(kPhpr) + ".PCEJ", {nameRef("_SUN")})))));
        uint64_t bit = uint64_t{1} << n;
        appendBytes(dvnt, ifThen(lEqual(andOp(arg(0), integer(bit)), integer(bit)), notify(nameRef(slotName), arg(1))));
    }
    return seq(slots, method("DVNT", 2, false, dvnt),
               method("PCNT", 0, false,
                      seq(call("DVNT", {nameRef(std::string(kPhpr) + ".PCIU"), integer(kDeviceCheck)}),
                          call("DVNT", {nameRef(std::string(kPhpr) + ".PCID"), integer(kEjectRequest)}))));
}

// \_SB.PHPR: the registers, a lock over them, PCEJ(slot) for the slots' _EJ0 and PSCN for
// the GED.
Bytes pciHotplugController(const PlatformDesc& p)
{
    ResourceTemplate crs;
    crs.io(p.pciHotplugPort, p.pciHotplugPort, 0x01, 0x10);
    return device("PHPR", seq(name("_HID", eisaId("PNP0A06")),
                              name("_UID", string("PCI Hotplug Controller")),
                              name("_STA", integer(0x0b)),   // present, enabled, functioning; not shown
                              mutex("BLCK"),
                              name("_CRS", crs.buffer()),
                              opRegion("PCST", RegionSpace::SystemIo, p.pciHotplugPort, 0x10),
                              field("PCST", FieldAccess::DWord, FieldUpdate::WriteAsZeros,
                                    {{"PCIU", 32}, {"PCID", 32}, {"B0EJ", 32}, {"PSEG", 32}}),
                              method("PCEJ", 1, true,
                                     seq(acquire("BLCK", 0xffff), shiftLeft(integer(1), arg(0), nameRef("B0EJ")),
                                         release("BLCK"), returnValue(integer(0)))),
                              method("PSCN", 0, true,
                                     seq(acquire("BLCK", 0xffff), call("\\_SB_.PCI0.PCNT"), release("BLCK")))));
}

// \_SB.GED_ (ACPI0013): its interrupt runs _EVT, which reads the event byte (clearing it)
// and calls the scanner of each kind that changed.
Bytes genericEventDevice(const PlatformDesc& p)
{
    ResourceTemplate crs;
    crs.interrupt(Usage::Consumer, Trigger::Edge, Polarity::ActiveHigh, Sharing::Exclusive, {p.gedGsi});
    constexpr uint64_t kPciChanged = 0x04;   // AcpiGed::kPciChanged
    return device("GED_", seq(name("_HID", string("ACPI0013")),
                              name("_UID", integer(0)),
                              name("_CRS", crs.buffer()),
                              opRegion("GDST", RegionSpace::SystemIo, p.gedPort, 1),
                              field("GDST", FieldAccess::Byte, FieldUpdate::WriteAsZeros, {{"GDAT", 8}}),
                              method("_EVT", 1, true,
                                     seq(store(nameRef("GDAT"), local(0)),
                                         ifThen(lEqual(andOp(local(0), integer(kPciChanged)), integer(kPciChanged)),
                                                call(std::string(kPhpr) + ".PSCN"))))));
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
                              name("_CRS", crs.buffer()),
                              p.pciHotplugPort != 0 ? pciHotplugSlots() : Bytes{}));
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
    // PHPR before the host bridge: the slots' _EJ0 call its PCEJ, and a call's argument
    // count is known only from a method defined before it.
    if (p.pciHotplugPort != 0)
        appendBytes(systemBus, pciHotplugController(p));
    if (p.pciEcamBase != 0) {
        appendBytes(systemBus, pciHostBridge(p));
        appendBytes(systemBus, motherboardResources(p));
    }
    if (p.pciHotplugPort != 0)
        appendBytes(systemBus, genericEventDevice(p));
    return seq(
        // SLP_TYPa, SLP_TYPb, two reserved: what the guest writes to PM1a_CNT to power off.
        name("\\_S5_", package({integer(p.s5SlpTyp), integer(p.s5SlpTyp), integer(0), integer(0)})),
        // The OS reports its interrupt model here; there is only the IOAPIC, nothing to switch.
        method("\\_PIC", 1, false, {}),
        scope("\\_SB_", systemBus));
}

}  // namespace mica::x86
