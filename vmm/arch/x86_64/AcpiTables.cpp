#include "AcpiTables.h"

#include <stdexcept>
#include <string>
#include <string_view>

#include "Dsdt.h"
#include "LeBytes.h"

// Layouts from the ACPI 6.4 specification, chapter 5.2; offsets in comments are the
// spec's, so a field can be checked against its table there.

namespace mica::x86 {

namespace {

constexpr std::string_view OemId = "MICA";          // padded to "MICA  "
constexpr std::string_view CreatorId = "MICA";
constexpr uint32_t CreatorRevision = 1;
constexpr std::size_t HeaderSize = 36;
constexpr std::size_t LengthOffset = 4, ChecksumOffset = 9;

// The common System Description Table header; finish() fills in length and checksum.
Bytes header(std::string_view signature, uint8_t revision)
{
    Bytes out;
    appendText(out, signature, 4);
    appendLe(out, 0, 4);                       // length, by finish()
    out.push_back(revision);
    out.push_back(0);                          // checksum, by finish()
    appendText(out, OemId, 6);
    appendText(out, std::string(OemId) + std::string(signature), 8);   // OEM table id
    appendLe(out, 1, 4);                       // OEM revision
    appendText(out, CreatorId, 4);
    appendLe(out, CreatorRevision, 4);
    return out;
}

Bytes finish(Bytes table)
{
    putLe(table, LengthOffset, table.size(), 4);
    table[ChecksumOffset] = 0;
    table[ChecksumOffset] = zeroSumByte(table, 0, table.size());
    return table;
}

// Generic Address Structure (5.2.3.2) in system I/O space.
constexpr uint8_t SystemIo = 1;
constexpr uint8_t ByteAccess = 1, WordAccess = 2;

void appendIoGas(Bytes& out, uint16_t port, uint8_t bitWidth, uint8_t accessSize)
{
    out.push_back(SystemIo);
    out.push_back(bitWidth);
    out.push_back(0);                          // bit offset
    out.push_back(accessSize);
    appendLe(out, port, 8);
}

void appendNullGas(Bytes& out)
{
    out.insert(out.end(), 12, 0);
}

// A 32-bit pointer field next to a 64-bit one: 0 when the target is above 4 GiB, which
// tells the OS to use the 64-bit field alone.
uint32_t low32Or0(uint64_t gpa)
{
    return gpa <= UINT32_MAX ? static_cast<uint32_t>(gpa) : 0;
}

Bytes dsdt(const PlatformDesc& platform)
{
    // Revision 2: AML integers are 64 bits (the QWord MMIO window needs them).
    Bytes table = header("DSDT", 2);
    appendBytes(table, dsdtAml(platform));
    return finish(std::move(table));
}

// The FACS has no checksum and no common header; the OS keeps its global lock and waking
// vector here, so it must exist whenever the platform is not hardware-reduced.
Bytes facs()
{
    Bytes table;
    appendText(table, "FACS", 4);
    appendLe(table, 64, 4);                    // length
    appendLe(table, 0, 4);                     // hardware signature
    appendLe(table, 0, 4);                     // firmware waking vector
    appendLe(table, 0, 4);                     // global lock
    appendLe(table, 0, 4);                     // flags: no S4BIOS, no 64-bit wake
    appendLe(table, 0, 8);                     // X firmware waking vector
    table.push_back(2);                        // version
    table.resize(64, 0);                       // reserved, OSPM flags, reserved
    return table;
}

// FADT flags (5.2.9, table 5.10).
constexpr uint32_t FadtWbinvd = 1u << 0, FadtProcC1 = 1u << 2, FadtSlpButton = 1u << 5,
                   FadtResetRegSup = 1u << 10;
// IA-PC boot architecture flags (5.2.9.3).
constexpr uint16_t BootLegacyDevices = 1u << 0, Boot8042 = 1u << 1;

Bytes fadt(const PlatformDesc& p, uint64_t dsdtGpa, uint64_t facsGpa)
{
    Bytes t = header("FACP", 6);
    appendLe(t, low32Or0(facsGpa), 4);         // 36 FIRMWARE_CTRL
    appendLe(t, low32Or0(dsdtGpa), 4);         // 40 DSDT
    t.push_back(0);                            // 44 reserved
    t.push_back(0);                            // 45 preferred PM profile: unspecified
    appendLe(t, p.sciIrq, 2);                  // 46 SCI_INT
    appendLe(t, 0, 4);                         // 48 SMI_CMD: none, always in ACPI mode
    t.push_back(0);                            // 52 ACPI_ENABLE
    t.push_back(0);                            // 53 ACPI_DISABLE
    t.push_back(0);                            // 54 S4BIOS_REQ
    t.push_back(0);                            // 55 PSTATE_CNT
    appendLe(t, p.pmEventPort, 4);             // 56 PM1a_EVT_BLK
    appendLe(t, 0, 4);                         // 60 PM1b_EVT_BLK
    appendLe(t, p.pmControlPort, 4);           // 64 PM1a_CNT_BLK
    appendLe(t, 0, 4);                         // 68 PM1b_CNT_BLK
    appendLe(t, 0, 4);                         // 72 PM2_CNT_BLK
    appendLe(t, 0, 4);                         // 76 PM_TMR_BLK: no PM timer (optional since 5.0A)
    appendLe(t, 0, 4);                         // 80 GPE0_BLK
    appendLe(t, 0, 4);                         // 84 GPE1_BLK
    t.push_back(4);                            // 88 PM1_EVT_LEN: PM1_STS + PM1_EN
    t.push_back(2);                            // 89 PM1_CNT_LEN
    t.push_back(0);                            // 90 PM2_CNT_LEN
    t.push_back(0);                            // 91 PM_TMR_LEN
    t.push_back(0);                            // 92 GPE0_BLK_LEN
    t.push_back(0);                            // 93 GPE1_BLK_LEN
    t.push_back(0);                            // 94 GPE1_BASE
    t.push_back(0);                            // 95 CST_CNT
    appendLe(t, 101, 2);                       // 96 P_LVL2_LAT: > 100, no C2
    appendLe(t, 1001, 2);                      // 98 P_LVL3_LAT: > 1000, no C3
    appendLe(t, 0, 2);                         // 100 FLUSH_SIZE
    appendLe(t, 0, 2);                         // 102 FLUSH_STRIDE
    t.push_back(0);                            // 104 DUTY_OFFSET
    t.push_back(0);                            // 105 DUTY_WIDTH
    t.push_back(0);                            // 106 DAY_ALRM
    t.push_back(0);                            // 107 MON_ALRM
    t.push_back(0x32);                         // 108 CENTURY: CMOS register of the century
    appendLe(t, BootLegacyDevices | Boot8042, 2);   // 109 IAPC_BOOT_ARCH
    t.push_back(0);                            // 111 reserved
    // PWR_BUTTON stays clear: the power button is the fixed-feature one (PWRBTN_STS).
    appendLe(t, FadtWbinvd | FadtProcC1 | FadtSlpButton | FadtResetRegSup, 4);   // 112 flags
    appendIoGas(t, p.resetPort, 8, ByteAccess);     // 116 RESET_REG
    t.push_back(p.resetValue);                 // 128 RESET_VALUE
    appendLe(t, 0, 2);                         // 129 ARM_BOOT_ARCH
    t.push_back(3);                            // 131 FADT minor version: 6.3 (MADT online-capable)
    appendLe(t, facsGpa, 8);                   // 132 X_FIRMWARE_CTRL
    appendLe(t, dsdtGpa, 8);                   // 140 X_DSDT
    // PM1 registers are 16 bits each (STS, EN, CNT): word access.
    appendIoGas(t, p.pmEventPort, 32, WordAccess);     // 148 X_PM1a_EVT_BLK
    appendNullGas(t);                          // 160 X_PM1b_EVT_BLK
    appendIoGas(t, p.pmControlPort, 16, WordAccess);   // 172 X_PM1a_CNT_BLK
    appendNullGas(t);                          // 184 X_PM1b_CNT_BLK
    appendNullGas(t);                          // 196 X_PM2_CNT_BLK
    appendNullGas(t);                          // 208 X_PM_TMR_BLK
    appendNullGas(t);                          // 220 X_GPE0_BLK
    appendNullGas(t);                          // 232 X_GPE1_BLK
    appendNullGas(t);                          // 244 SLEEP_CONTROL_REG (hardware-reduced only)
    appendNullGas(t);                          // 256 SLEEP_STATUS_REG (hardware-reduced only)
    appendLe(t, 0, 8);                         // 268 hypervisor vendor identity
    return finish(std::move(t));               // 276 bytes
}

// MADT (5.2.12) entry types and flags.
constexpr uint8_t MadtLocalApic = 0, MadtIoApic = 1, MadtSourceOverride = 2, MadtLocalApicNmi = 4,
                  MadtLocalX2Apic = 9;
constexpr uint32_t MadtPcatCompat = 1u << 0;
constexpr uint32_t LapicEnabled = 1u << 0, LapicOnlineCapable = 1u << 1;
// MPS INTI flags (5.2.12.5): polarity bits 0-1, trigger mode bits 2-3.
constexpr uint16_t IntiActiveHigh = 0x1, IntiLevel = 0x3 << 2;

Bytes madt(const PlatformDesc& p)
{
    // Revision 5 (ACPI 6.3) gives the online-capable flag its meaning: Linux counts a
    // disabled CPU as hot-pluggable only when it is set.
    Bytes t = header("APIC", 5);
    appendLe(t, p.lapicAddr, 4);
    appendLe(t, MadtPcatCompat, 4);            // dual 8259s present (i8259 masked by the OS)
    for (unsigned id = 0; id < p.maxCpus; id++) {
        uint32_t flags = id < p.cpus ? LapicEnabled : LapicOnlineCapable;
        if (id < 255) {                        // 0xff is the xAPIC broadcast id
            t.push_back(MadtLocalApic);
            t.push_back(8);
            t.push_back(static_cast<uint8_t>(id));   // ACPI processor UID
            t.push_back(static_cast<uint8_t>(id));   // APIC id
            appendLe(t, flags, 4);
        } else {
            t.push_back(MadtLocalX2Apic);
            t.push_back(16);
            appendLe(t, 0, 2);
            appendLe(t, id, 4);                // x2APIC id
            appendLe(t, flags, 4);
            appendLe(t, id, 4);                // ACPI processor UID
        }
    }
    t.push_back(MadtIoApic);
    t.push_back(12);
    t.push_back(p.ioapicId);
    t.push_back(0);
    appendLe(t, p.ioapicAddr, 4);
    appendLe(t, 0, 4);                         // GSI base

    auto sourceOverride = [&](uint8_t irq, uint32_t gsi, uint16_t flags) {
        t.push_back(MadtSourceOverride);
        t.push_back(10);
        t.push_back(0);                        // bus: ISA
        t.push_back(irq);
        appendLe(t, gsi, 4);
        appendLe(t, flags, 2);
    };
    // The PIT's IRQ0 is wired to IOAPIC pin 2 (pin 0 is the 8259's ExtINT on real PCs).
    sourceOverride(0, 2, 0);
    // Without an override the OS takes the SCI as level triggered, active low (FADT
    // SCI_INT); the VMM drives the line active high.
    sourceOverride(p.sciIrq, p.sciIrq, IntiLevel | IntiActiveHigh);

    t.push_back(MadtLocalApicNmi);
    t.push_back(6);
    t.push_back(0xff);                         // all processors
    appendLe(t, 0, 2);                         // flags: conforming
    t.push_back(1);                            // LINT1
    return finish(std::move(t));
}

// PCI Firmware spec 3.2, 4.1.2: one allocation for segment 0.
Bytes mcfg(const PlatformDesc& p)
{
    Bytes t = header("MCFG", 1);
    appendLe(t, 0, 8);                         // reserved
    appendLe(t, p.pciEcamBase, 8);             // where bus 0 would be
    appendLe(t, 0, 2);                         // segment
    t.push_back(p.pciBusStart);
    t.push_back(p.pciBusEnd);
    appendLe(t, 0, 4);
    return finish(std::move(t));
}

Bytes rootTable(std::string_view signature, const std::vector<uint64_t>& entries, std::size_t entrySize)
{
    Bytes t = header(signature, 1);
    for (uint64_t gpa : entries)
        appendLe(t, gpa, entrySize);
    return finish(std::move(t));
}

Bytes rsdp(uint64_t xsdtGpa, uint64_t rsdtGpa)
{
    Bytes r;
    appendText(r, "RSD PTR ", 8);
    r.push_back(0);                            // checksum of the ACPI 1.0 part (20 bytes)
    appendText(r, OemId, 6);
    r.push_back(2);                            // revision: ACPI 2.0+, has the XSDT
    appendLe(r, rsdtGpa, 4);
    appendLe(r, 36, 4);                        // length
    appendLe(r, xsdtGpa, 8);
    r.push_back(0);                            // extended checksum (all 36 bytes)
    appendLe(r, 0, 3);
    r[8] = zeroSumByte(r, 0, 20);
    r[32] = zeroSumByte(r, 0, 36);
    return r;
}

constexpr std::size_t RsdpSize = 36;

uint64_t alignUp(uint64_t value, uint64_t alignment)
{
    return (value + alignment - 1) / alignment * alignment;
}

// Lays tables out upward from a start address, remembering where each went.
class TableArea {
public:
    explicit TableArea(uint64_t start) : next_(start) {}

    uint64_t place(Bytes table, uint64_t alignment = 16)
    {
        uint64_t gpa = alignUp(next_, alignment);
        next_ = gpa + table.size();
        blobs_.push_back({gpa, std::move(table)});
        return gpa;
    }
    uint64_t start() const { return blobs_.empty() ? next_ : blobs_.front().gpa; }
    uint64_t end() const { return next_; }
    std::vector<Blob>& blobs() { return blobs_; }

private:
    uint64_t next_;
    std::vector<Blob> blobs_;
};

}  // namespace

std::vector<Blob> buildAcpiTables(const PlatformDesc& platform, uint64_t rsdpGpa, uint64_t tablesGpa)
{
    validate(platform);
    if (rsdpGpa % 16 != 0)
        throw std::invalid_argument("ACPI: RSDP address " + std::to_string(rsdpGpa) + " is not 16-byte aligned");

    TableArea area(tablesGpa);
    uint64_t dsdtGpa = area.place(dsdt(platform));
    uint64_t facsGpa = area.place(facs(), 64);
    std::vector<uint64_t> entries{area.place(fadt(platform, dsdtGpa, facsGpa)), area.place(madt(platform))};
    if (platform.pciEcamBase != 0)
        entries.push_back(area.place(mcfg(platform)));
    uint64_t xsdtGpa = area.place(rootTable("XSDT", entries, 8));
    uint64_t rsdtGpa = 0;
    if (area.end() + HeaderSize + 4 * entries.size() + 16 <= UINT32_MAX)
        rsdtGpa = area.place(rootTable("RSDT", entries, 4));

    if (rsdpGpa < area.end() && area.start() < rsdpGpa + RsdpSize)
        throw std::invalid_argument("ACPI: RSDP at " + std::to_string(rsdpGpa) + " overlaps the tables at " +
                                    std::to_string(area.start()) + "-" + std::to_string(area.end()));
    std::vector<Blob> blobs{{rsdpGpa, rsdp(xsdtGpa, rsdtGpa)}};
    for (Blob& blob : area.blobs())
        blobs.push_back(std::move(blob));
    return blobs;
}

}  // namespace mica::x86
