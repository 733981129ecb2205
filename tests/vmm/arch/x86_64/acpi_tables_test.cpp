// Structural checks of the ACPI tables as a guest finds them: copied into a fake guest
// memory, the RSDP found by Linux's scan, every table reached through the pointers.
#include "AcpiTables.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "Aml.h"
#include "TableBytes.h"

using mica::x86::Blob;
using mica::x86::buildAcpiTables;
using mica::x86::PlatformDesc;
using namespace mica::x86::test;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint64_t RsdpGpa = 0xe0000, TablesGpa = 0xe1000;

PlatformDesc withPci()
{
    PlatformDesc p;
    p.cpus = 2;
    p.maxCpus = 4;
    p.pciEcamBase = 0xe0000000;
    p.pciBusStart = 0;
    p.pciBusEnd = 0xff;
    p.pciMmio32Base = 0xc0000000;
    p.pciMmio32Size = 0x20000000;
    p.pciMmio64Base = 0x1000000000;
    p.pciMmio64Size = 0x1000000000;
    return p;
}

// Guest memory from 0 to 1 MiB with the blobs copied in, read the way the guest does.
class GuestMemory {
public:
    explicit GuestMemory(const std::vector<Blob>& blobs) : ram_(1 << 20, 0)
    {
        for (const Blob& blob : blobs) {
            EXPECT_LE(blob.gpa + blob.bytes.size(), ram_.size());
            std::copy(blob.bytes.begin(), blob.bytes.end(), ram_.begin() + static_cast<long>(blob.gpa));
        }
    }

    // Linux (acpi_find_root_pointer) checks 16-byte boundaries of 0xe0000-0xfffff for
    // the signature and a zero checksum over the first 20 bytes.
    uint64_t findRsdp() const
    {
        for (uint64_t gpa = 0xe0000; gpa < 0x100000; gpa += 16)
            if (std::memcmp(&ram_[gpa], "RSD PTR ", 8) == 0 && byteSum(ram_, gpa, 20) == 0)
                return gpa;
        return 0;
    }

    // The table at gpa, after checking its length and checksum.
    Bytes table(uint64_t gpa) const
    {
        EXPECT_LT(gpa + 36, ram_.size());
        if (gpa + 36 >= ram_.size())
            return Bytes(36, 0);
        uint64_t length = le(ram_, gpa + 4, 4);
        EXPECT_GE(length, 36u);
        EXPECT_LE(gpa + length, ram_.size());
        if (length < 36 || gpa + length > ram_.size())
            return Bytes(36, 0);
        Bytes bytes(ram_.begin() + static_cast<long>(gpa), ram_.begin() + static_cast<long>(gpa + length));
        EXPECT_EQ(byteSum(bytes, 0, bytes.size()), 0) << text(bytes, 0, 4) << " checksum";
        return bytes;
    }

    const Bytes& ram() const { return ram_; }

private:
    Bytes ram_;
};

// Signature -> table, reached from the RSDP through the XSDT.
std::map<std::string, Bytes> walkXsdt(const GuestMemory& memory)
{
    std::map<std::string, Bytes> tables;
    uint64_t rsdp = memory.findRsdp();
    EXPECT_NE(rsdp, 0u) << "no RSDP";
    if (rsdp == 0)
        return tables;
    Bytes xsdt = memory.table(le(memory.ram(), rsdp + 24, 8));
    EXPECT_EQ(text(xsdt, 0, 4), "XSDT");
    for (std::size_t offset = 36; offset + 8 <= xsdt.size(); offset += 8) {
        Bytes t = memory.table(le(xsdt, offset, 8));
        tables[text(t, 0, 4)] = t;
    }
    return tables;
}

}  // namespace

TEST(AcpiRsdp, FoundByTheLinuxScanWithBothChecksums)
{
    auto blobs = buildAcpiTables(PlatformDesc{}, RsdpGpa, TablesGpa);
    ASSERT_FALSE(blobs.empty());
    EXPECT_EQ(blobs[0].gpa, RsdpGpa);
    GuestMemory memory(blobs);
    ASSERT_EQ(memory.findRsdp(), RsdpGpa);
    const Bytes& rsdp = blobs[0].bytes;
    ASSERT_EQ(rsdp.size(), 36u);
    EXPECT_EQ(text(rsdp, 9, 6), "MICA  ");
    EXPECT_EQ(rsdp[15], 2);                                // revision: XSDT present
    EXPECT_EQ(le(rsdp, 20, 4), 36u);
    EXPECT_EQ(byteSum(rsdp, 0, 20), 0);
    EXPECT_EQ(byteSum(rsdp, 0, 36), 0);
    EXPECT_NE(le(rsdp, 24, 8), 0u);
}

TEST(AcpiRsdp, CanSitAboveTheTables)
{
    auto blobs = buildAcpiTables(PlatformDesc{}, 0xf0000, 0xe0000);
    GuestMemory memory(blobs);
    EXPECT_EQ(memory.findRsdp(), 0xf0000u);
    EXPECT_EQ(walkXsdt(memory).count("FACP"), 1u);
}

TEST(AcpiTables, XsdtAndRsdtListTheSameTables)
{
    auto blobs = buildAcpiTables(withPci(), RsdpGpa, TablesGpa);
    GuestMemory memory(blobs);
    auto tables = walkXsdt(memory);
    std::vector<std::string> signatures;
    for (auto& [signature, bytes] : tables)
        signatures.push_back(signature);
    EXPECT_EQ(signatures, (std::vector<std::string>{"APIC", "FACP", "MCFG"}));

    Bytes rsdt = memory.table(le(blobs[0].bytes, 16, 4));
    Bytes xsdt = memory.table(le(blobs[0].bytes, 24, 8));
    EXPECT_EQ(text(rsdt, 0, 4), "RSDT");
    ASSERT_EQ((rsdt.size() - 36) / 4, (xsdt.size() - 36) / 8);
    for (std::size_t i = 0; i < (rsdt.size() - 36) / 4; i++)
        EXPECT_EQ(le(rsdt, 36 + 4 * i, 4), le(xsdt, 36 + 8 * i, 8));
}

TEST(AcpiTables, EveryHeaderNamesMica)
{
    auto blobs = buildAcpiTables(withPci(), RsdpGpa, TablesGpa);
    for (const Blob& blob : blobs) {
        std::string signature = text(blob.bytes, 0, 4);
        if (signature == "RSD " || signature == "FACS")
            continue;
        EXPECT_EQ(le(blob.bytes, 4, 4), blob.bytes.size()) << signature;
        EXPECT_EQ(byteSum(blob.bytes, 0, blob.bytes.size()), 0) << signature;
        EXPECT_EQ(text(blob.bytes, 10, 6), "MICA  ") << signature;
        EXPECT_EQ(text(blob.bytes, 16, 8), "MICA" + signature) << signature;
    }
}

TEST(AcpiTables, LaidOutWithoutOverlapFromTablesGpa)
{
    auto blobs = buildAcpiTables(withPci(), RsdpGpa, TablesGpa);
    uint64_t end = TablesGpa;
    for (std::size_t i = 1; i < blobs.size(); i++) {
        EXPECT_GE(blobs[i].gpa, end) << text(blobs[i].bytes, 0, 4);
        EXPECT_EQ(blobs[i].gpa % 16, 0u);
        end = blobs[i].gpa + blobs[i].bytes.size();
    }
    EXPECT_LT(end, TablesGpa + 0x1000);        // small: fits in one page
    EXPECT_EQ(table(blobs, "FACS").gpa % 64, 0u);
    EXPECT_EQ(table(blobs, "FACS").bytes.size(), 64u);
}

TEST(AcpiTables, AboveFourGibOnlyTheXsdtAndXFieldsPointThere)
{
    uint64_t high = 0x100000000;
    auto blobs = buildAcpiTables(PlatformDesc{}, RsdpGpa, high);
    EXPECT_EQ(le(blobs[0].bytes, 16, 4), 0u);                 // no RSDT
    EXPECT_FALSE(hasTable(blobs, "RSDT"));
    EXPECT_GE(le(blobs[0].bytes, 24, 8), high);
    const Bytes& fadt = table(blobs, "FACP").bytes;
    EXPECT_EQ(le(fadt, 36, 4), 0u);                           // FIRMWARE_CTRL
    EXPECT_EQ(le(fadt, 40, 4), 0u);                           // DSDT
    EXPECT_EQ(le(fadt, 132, 8), table(blobs, "FACS").gpa);
    EXPECT_EQ(le(fadt, 140, 8), table(blobs, "DSDT").gpa);
}

TEST(AcpiFadt, FullAcpiWithFixedPowerButtonAndResetRegister)
{
    PlatformDesc p;
    p.pmEventPort = 0xb000;
    p.pmControlPort = 0xb004;
    p.sciIrq = 10;
    p.resetPort = 0xcf9;
    p.resetValue = 0x06;
    auto blobs = buildAcpiTables(p, RsdpGpa, TablesGpa);
    const Bytes& f = table(blobs, "FACP").bytes;
    ASSERT_EQ(f.size(), 276u);
    EXPECT_EQ(f[8], 6);                                       // revision
    EXPECT_EQ(le(f, 36, 4), table(blobs, "FACS").gpa);
    EXPECT_EQ(le(f, 40, 4), table(blobs, "DSDT").gpa);
    EXPECT_EQ(le(f, 46, 2), 10u);                             // SCI_INT
    EXPECT_EQ(le(f, 48, 4), 0u);                              // SMI_CMD: always ACPI mode
    EXPECT_EQ(le(f, 56, 4), 0xb000u);                         // PM1a_EVT_BLK
    EXPECT_EQ(le(f, 60, 4), 0u);
    EXPECT_EQ(le(f, 64, 4), 0xb004u);                         // PM1a_CNT_BLK
    EXPECT_EQ(le(f, 76, 4), 0u);                              // no PM timer
    EXPECT_EQ(f[88], 4);                                      // PM1_EVT_LEN
    EXPECT_EQ(f[89], 2);                                      // PM1_CNT_LEN
    EXPECT_EQ(f[91], 0);                                      // PM_TMR_LEN
    EXPECT_EQ(f[92], 0);                                      // no GPE0
    EXPECT_EQ(f[108], 0x32);                                  // CENTURY
    EXPECT_EQ(le(f, 109, 2), 0x3u);                           // legacy devices + 8042
    uint32_t flags = static_cast<uint32_t>(le(f, 112, 4));
    EXPECT_EQ(flags, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10));
    EXPECT_FALSE(flags & (1u << 4)) << "PWR_BUTTON set: Linux would not use the fixed power button";
    EXPECT_FALSE(flags & (1u << 20)) << "hardware-reduced";
    // RESET_REG: system I/O, 8 bits, byte access, the port; then RESET_VALUE.
    EXPECT_EQ(Bytes(f.begin() + 116, f.begin() + 120), (Bytes{1, 8, 0, 1}));
    EXPECT_EQ(le(f, 120, 8), 0xcf9u);
    EXPECT_EQ(f[128], 0x06);
    EXPECT_EQ(le(f, 132, 8), table(blobs, "FACS").gpa);       // X_FIRMWARE_CTRL
    EXPECT_EQ(le(f, 140, 8), table(blobs, "DSDT").gpa);       // X_DSDT
    EXPECT_EQ(Bytes(f.begin() + 148, f.begin() + 152), (Bytes{1, 32, 0, 2}));   // X_PM1a_EVT_BLK
    EXPECT_EQ(le(f, 152, 8), 0xb000u);
    EXPECT_EQ(Bytes(f.begin() + 172, f.begin() + 176), (Bytes{1, 16, 0, 2}));   // X_PM1a_CNT_BLK
    EXPECT_EQ(le(f, 176, 8), 0xb004u);
    for (std::size_t gas : {160, 184, 196, 208, 220, 232, 244, 256})
        EXPECT_EQ(le(f, gas, 4) | le(f, gas + 4, 8), 0u) << "GAS at " << gas;
}

TEST(AcpiFacs, SignatureAndVersion)
{
    auto blobs = buildAcpiTables(PlatformDesc{}, RsdpGpa, TablesGpa);
    const Bytes& facs = table(blobs, "FACS").bytes;
    EXPECT_EQ(le(facs, 4, 4), 64u);
    EXPECT_EQ(facs[32], 2);
}

TEST(AcpiDsdt, S5PackageCarriesTheSleepType)
{
    PlatformDesc p;
    p.s5SlpTyp = 7;
    auto blobs = buildAcpiTables(p, RsdpGpa, TablesGpa);
    const Bytes& dsdt = table(blobs, "DSDT").bytes;
    EXPECT_EQ(dsdt[8], 2);                                    // 64-bit integers
    Bytes s5 = mica::x86::aml::seq(Bytes{0x08, '\\', '_', 'S', '5', '_'},
                                   Bytes{0x12, 0x08, 0x04, 0x0a, 0x07, 0x0a, 0x07, 0x00, 0x00});
    EXPECT_NE(std::search(dsdt.begin(), dsdt.end(), s5.begin(), s5.end()), dsdt.end());
}

TEST(AcpiDsdt, DevicesFollowThePlatform)
{
    auto contains = [](const Bytes& haystack, std::string_view needle) {
        return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
    };
    PlatformDesc bare;
    bare.serialCom1 = false;
    Bytes none = table(buildAcpiTables(bare, RsdpGpa, TablesGpa), "DSDT").bytes;
    EXPECT_FALSE(contains(none, "COM1"));
    EXPECT_FALSE(contains(none, "PCI0"));
    auto defaults = buildAcpiTables(PlatformDesc{}, RsdpGpa, TablesGpa);
    EXPECT_TRUE(contains(table(defaults, "DSDT").bytes, "COM1"));
    EXPECT_FALSE(contains(table(defaults, "DSDT").bytes, "PCI0"));
    EXPECT_FALSE(hasTable(defaults, "MCFG"));
    auto pci = buildAcpiTables(withPci(), RsdpGpa, TablesGpa);
    EXPECT_TRUE(contains(table(pci, "DSDT").bytes, "PCI0"));
    EXPECT_TRUE(contains(table(pci, "DSDT").bytes, "MBRD"));
}

namespace {

bool containsBytes(const Bytes& haystack, const Bytes& needle)
{
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) != haystack.end();
}

}  // namespace

TEST(AcpiDsdt, HostBridgeAndEcamReservationFollowTheBusRange)
{
    namespace aml = mica::x86::aml;
    PlatformDesc p = withPci();
    p.pciBusStart = 0x10;
    p.pciBusEnd = 0x1f;
    Bytes dsdt = table(buildAcpiTables(p, RsdpGpa, TablesGpa), "DSDT").bytes;
    EXPECT_TRUE(containsBytes(dsdt, aml::name("_BBN", aml::integer(0x10))));
    Bytes bridge = aml::ResourceTemplate()
                       .wordBusNumber(0x10, 0x1f)
                       .io(0x0cf8, 0x0cf8, 1, 8)
                       .wordIo(0x0000, 0x0cf7)
                       .wordIo(0x0d00, 0xffff)
                       .dwordMemory(0xc0000000, 0xdfffffff, false)
                       .qwordMemory(0x1000000000, 0x1fffffffff, true)
                       .buffer();
    EXPECT_TRUE(containsBytes(dsdt, aml::name("_CRS", bridge)));
    // Buses 0x10-0x1f of an ECAM whose bus 0 is at 0xe0000000: 16 MiB from 0xe1000000.
    EXPECT_TRUE(containsBytes(dsdt, aml::name("_CRS", aml::ResourceTemplate().memory32Fixed(0xe1000000, 0x1000000).buffer())));

    p.pciEcamBase = 0x4000000000;     // above 4 GiB: a QWord range instead
    Bytes high = table(buildAcpiTables(p, RsdpGpa, TablesGpa), "DSDT").bytes;
    Bytes reservation = aml::ResourceTemplate()
                            .qwordMemory(0x4001000000, 0x4001ffffff, false, true, aml::Usage::Consumer)
                            .buffer();
    EXPECT_TRUE(containsBytes(high, aml::name("_CRS", reservation)));
}

TEST(AcpiDsdt, WindowsLeftOutWhenEmpty)
{
    namespace aml = mica::x86::aml;
    PlatformDesc p = withPci();
    p.pciMmio64Size = 0;
    Bytes dsdt = table(buildAcpiTables(p, RsdpGpa, TablesGpa), "DSDT").bytes;
    EXPECT_EQ(std::find(dsdt.begin(), dsdt.end(), 0x8a), dsdt.end()) << "a QWord descriptor tag";
    EXPECT_NE(std::find(dsdt.begin(), dsdt.end(), 0x87), dsdt.end()) << "no DWord descriptor";
}

TEST(AcpiMcfg, OneAllocationForSegmentZero)
{
    PlatformDesc p = withPci();
    p.pciBusStart = 0;
    p.pciBusEnd = 0x3f;
    Bytes mcfg = table(buildAcpiTables(p, RsdpGpa, TablesGpa), "MCFG").bytes;
    ASSERT_EQ(mcfg.size(), 60u);
    EXPECT_EQ(le(mcfg, 44, 8), 0xe0000000u);
    EXPECT_EQ(le(mcfg, 52, 2), 0u);
    EXPECT_EQ(mcfg[54], 0);
    EXPECT_EQ(mcfg[55], 0x3f);
}

// MADT entries for a few CPU counts, as Linux's acpi_parse_madt_lapic_entries sees them.
struct CpuCounts {
    unsigned cpus, maxCpus;
};

class AcpiMadt : public ::testing::TestWithParam<CpuCounts> {};

TEST_P(AcpiMadt, OneLocalApicPerCpuThenIoApicOverridesAndNmi)
{
    PlatformDesc p;
    p.cpus = GetParam().cpus;
    p.maxCpus = GetParam().maxCpus;
    p.ioapicId = 3;
    p.sciIrq = 11;
    auto blobs = buildAcpiTables(p, RsdpGpa, 0x100000);
    const Bytes& m = table(blobs, "APIC").bytes;
    EXPECT_EQ(m[8], 5);                                       // revision: online-capable flag
    EXPECT_EQ(le(m, 36, 4), 0xfee00000u);
    EXPECT_EQ(le(m, 40, 4), 1u);                              // PCAT_COMPAT

    std::map<uint32_t, uint32_t> apicFlags;                   // APIC id -> flags
    std::vector<Bytes> ioapics, overrides, nmis;
    std::size_t offset = 44;
    while (offset < m.size()) {
        uint8_t type = m[offset], length = m[offset + 1];
        ASSERT_GE(length, 2) << "at " << offset;
        Bytes entry(m.begin() + static_cast<long>(offset), m.begin() + static_cast<long>(offset + length));
        switch (type) {
        case 0:
            ASSERT_EQ(length, 8);
            EXPECT_EQ(entry[2], entry[3]) << "UID follows the APIC id";
            EXPECT_TRUE(apicFlags.emplace(entry[3], le(entry, 4, 4)).second) << "duplicate APIC id";
            break;
        case 9:
            ASSERT_EQ(length, 16);
            EXPECT_GE(le(entry, 4, 4), 255u) << "x2APIC entry for an id an xAPIC entry could hold";
            EXPECT_TRUE(apicFlags.emplace(le(entry, 4, 4), le(entry, 8, 4)).second);
            break;
        case 1: ioapics.push_back(entry); break;
        case 2: overrides.push_back(entry); break;
        case 4: nmis.push_back(entry); break;
        default: ADD_FAILURE() << "unexpected MADT entry type " << int(type);
        }
        offset += length;
    }
    EXPECT_EQ(offset, m.size());
    ASSERT_EQ(apicFlags.size(), p.maxCpus);
    for (auto [id, flags] : apicFlags) {
        ASSERT_LT(id, p.maxCpus);
        EXPECT_EQ(flags, id < p.cpus ? 1u : 2u) << "APIC " << id;   // enabled, or online capable
    }

    ASSERT_EQ(ioapics.size(), 1u);
    EXPECT_EQ(ioapics[0], (Bytes{1, 12, 3, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0}));
    ASSERT_EQ(overrides.size(), 2u);
    EXPECT_EQ(overrides[0], (Bytes{2, 10, 0, 0, 2, 0, 0, 0, 0x00, 0x00}));      // IRQ0 -> GSI 2
    EXPECT_EQ(overrides[1], (Bytes{2, 10, 0, 11, 11, 0, 0, 0, 0x0d, 0x00}));    // SCI: level, high
    ASSERT_EQ(nmis.size(), 1u);
    EXPECT_EQ(nmis[0], (Bytes{4, 6, 0xff, 0, 0, 1}));                          // all CPUs, LINT1
}

INSTANTIATE_TEST_SUITE_P(CpuCounts, AcpiMadt,
                         ::testing::Values(CpuCounts{1, 1}, CpuCounts{2, 2}, CpuCounts{2, 8}, CpuCounts{8, 8},
                                           CpuCounts{1, 255}, CpuCounts{64, 300}),
                         [](const auto& info) {
                             return std::to_string(info.param.cpus) + "of" + std::to_string(info.param.maxCpus);
                         });

TEST(AcpiTables, RefuseWhatTheyCannotDescribe)
{
    EXPECT_THROW(buildAcpiTables(PlatformDesc{}, 0xe0008, TablesGpa), std::invalid_argument);   // misaligned
    EXPECT_THROW(buildAcpiTables(PlatformDesc{}, 0xe1010, TablesGpa), std::invalid_argument);   // overlap
    PlatformDesc p;
    p.cpus = 0;
    EXPECT_THROW(buildAcpiTables(p, RsdpGpa, TablesGpa), std::invalid_argument);
    p.cpus = 4;
    p.maxCpus = 2;
    EXPECT_THROW(buildAcpiTables(p, RsdpGpa, TablesGpa), std::invalid_argument);
    p = PlatformDesc{};
    p.s5SlpTyp = 8;
    EXPECT_THROW(buildAcpiTables(p, RsdpGpa, TablesGpa), std::invalid_argument);
    p = PlatformDesc{};
    p.sciIrq = 16;
    EXPECT_THROW(buildAcpiTables(p, RsdpGpa, TablesGpa), std::invalid_argument);
    p = withPci();
    p.pciBusStart = 2;
    p.pciBusEnd = 1;
    EXPECT_THROW(buildAcpiTables(p, RsdpGpa, TablesGpa), std::invalid_argument);
}
