// The MP table as Linux's mpparse reads it with acpi=off: the floating pointer found in
// the last KiB of base memory, then every configuration entry parsed by its type's size.
#include "MpTable.h"

#include <cstring>
#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "TableBytes.h"

using mica::x86::Blob;
using mica::x86::buildMpTable;
using mica::x86::PlatformDesc;
using namespace mica::x86::test;
using Bytes = std::vector<uint8_t>;

namespace {

constexpr uint64_t FpsGpa = 0x9fc00;

struct ParsedMpTable {
    Bytes header;
    std::vector<Bytes> processors, buses, ioapics, ioInterrupts, localInterrupts;
};

ParsedMpTable parse(const PlatformDesc& p)
{
    auto blobs = buildMpTable(p, FpsGpa);
    EXPECT_EQ(blobs.size(), 1u);
    const Blob& blob = blobs.at(0);
    EXPECT_EQ(blob.gpa, FpsGpa);
    // Guest memory up to 1 MiB; Linux's smp_scan_config(639 * 0x400, 0x400) looks at the
    // last KiB below 640 KiB. (Hundreds of CPUs push the table past 0xa0000, which the
    // caller has to avoid; the parsing here does not care.)
    Bytes ram(0x100000, 0);
    EXPECT_LE(blob.gpa + blob.bytes.size(), ram.size());
    std::copy(blob.bytes.begin(), blob.bytes.end(), ram.begin() + static_cast<long>(blob.gpa));
    uint64_t fps = 0;
    for (uint64_t gpa = 639 * 0x400; gpa < 640 * 0x400; gpa += 16)
        if (std::memcmp(&ram[gpa], "_MP_", 4) == 0 && ram[gpa + 8] == 1 && byteSum(ram, gpa, 16) == 0) {
            fps = gpa;
            break;
        }
    EXPECT_EQ(fps, FpsGpa) << "no valid floating pointer";
    EXPECT_EQ(ram[fps + 9], 4);                               // spec 1.4
    EXPECT_EQ(ram[fps + 11], 0);                              // a configuration table follows
    uint64_t config = le(ram, fps + 4, 4);
    EXPECT_EQ(config, FpsGpa + 16);

    ParsedMpTable parsed;
    EXPECT_EQ(text(ram, config, 4), "PCMP");
    std::size_t length = le(ram, config + 4, 2);
    EXPECT_EQ(config + length, blob.gpa + blob.bytes.size()) << "blob ends with the table";
    EXPECT_EQ(byteSum(ram, config, length), 0) << "configuration table checksum";
    EXPECT_EQ(ram[config + 6], 4);
    parsed.header.assign(ram.begin() + static_cast<long>(config), ram.begin() + static_cast<long>(config + 44));
    std::size_t count = le(ram, config + 34, 2);
    std::size_t offset = config + 44;
    for (std::size_t i = 0; i < count; i++) {
        uint8_t type = ram[offset];
        std::size_t size = type == 0 ? 20 : 8;
        EXPECT_LE(type, 4) << "entry " << i;
        Bytes entry(ram.begin() + static_cast<long>(offset), ram.begin() + static_cast<long>(offset + size));
        std::vector<Bytes>* lists[] = {&parsed.processors, &parsed.buses, &parsed.ioapics, &parsed.ioInterrupts,
                                       &parsed.localInterrupts};
        if (type <= 4)
            lists[type]->push_back(entry);
        offset += size;
    }
    EXPECT_EQ(offset, config + length) << "entry count and length agree";
    return parsed;
}

}  // namespace

TEST(MpTable, ProcessorsEnabledUpToCpusBootProcessorFirst)
{
    PlatformDesc p;
    p.cpus = 3;
    p.maxCpus = 5;
    auto mp = parse(p);
    EXPECT_EQ(le(mp.header, 36, 4), 0xfee00000u);
    ASSERT_EQ(mp.processors.size(), 5u);
    for (unsigned id = 0; id < 5; id++) {
        const Bytes& cpu = mp.processors[id];
        EXPECT_EQ(cpu[1], id);
        EXPECT_EQ(cpu[2], 0x14) << "LAPIC version";
        uint8_t expected = (id < 3 ? 1 : 0) | (id == 0 ? 2 : 0);
        EXPECT_EQ(cpu[3], expected) << "CPU " << id;
    }
}

TEST(MpTable, IsaBusIoApicAndInterruptRouting)
{
    PlatformDesc p;
    p.ioapicId = 2;
    p.ioapicAddr = 0xfec01000;
    auto mp = parse(p);
    ASSERT_EQ(mp.buses.size(), 1u);
    EXPECT_EQ(text(mp.buses[0], 2, 6), "ISA   ");
    uint8_t isaBus = mp.buses[0][1];
    ASSERT_EQ(mp.ioapics.size(), 1u);
    EXPECT_EQ(mp.ioapics[0], (Bytes{2, 2, 0x11, 1, 0x00, 0x10, 0xc0, 0xfe}));

    std::map<uint8_t, uint8_t> pinOfIrq;
    for (const Bytes& e : mp.ioInterrupts) {
        EXPECT_EQ(e[1], 0) << "INT";
        EXPECT_EQ(le(e, 2, 2), 0u) << "conforming";
        EXPECT_EQ(e[4], isaBus);
        EXPECT_EQ(e[6], 2) << "IOAPIC id";
        EXPECT_TRUE(pinOfIrq.emplace(e[5], e[7]).second) << "IRQ " << int(e[5]) << " twice";
    }
    EXPECT_EQ(pinOfIrq.size(), 15u);
    EXPECT_EQ(pinOfIrq.at(0), 2) << "the PIT's IRQ0 is on pin 2";
    EXPECT_EQ(pinOfIrq.count(2), 0u) << "pin 2 is IRQ0's";
    for (uint8_t irq = 1; irq < 16; irq++) {
        if (irq != 2) {
            EXPECT_EQ(pinOfIrq.at(irq), irq);
        }
    }

    ASSERT_EQ(mp.localInterrupts.size(), 2u);
    EXPECT_EQ(mp.localInterrupts[0], (Bytes{4, 3, 0, 0, isaBus, 0, 0xff, 0}));   // ExtINT -> LINT0
    EXPECT_EQ(mp.localInterrupts[1], (Bytes{4, 1, 0, 0, isaBus, 0, 0xff, 1}));   // NMI -> LINT1
}

TEST(MpTable, IdsPastTheFormatAreLeftOut)
{
    PlatformDesc p;
    p.cpus = 2;
    p.maxCpus = 300;
    auto mp = parse(p);
    EXPECT_EQ(mp.processors.size(), 255u);
}

TEST(MpTable, RefusesMisalignedOrHighPlacement)
{
    EXPECT_THROW(buildMpTable(PlatformDesc{}, 0x9fc08), std::invalid_argument);
    EXPECT_THROW(buildMpTable(PlatformDesc{}, 0xfffffff0), std::invalid_argument);
    PlatformDesc p;
    p.maxCpus = 0;
    EXPECT_THROW(buildMpTable(p, FpsGpa), std::invalid_argument);
}
