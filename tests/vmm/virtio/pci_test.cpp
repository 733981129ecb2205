// PCI configuration space, the bus and its config mechanisms, and the MSI-X table,
// without KVM.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "AddressAllocator.h"
#include "Error.h"
#include "MsixTable.h"
#include "PciBus.h"
#include "PciConfigAccess.h"

using namespace mica;
using namespace mica::pci;

namespace {

uint32_t read32(PciConfigSpace& c, uint16_t off)
{
    uint8_t b[4];
    c.read(off, b);
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}
void write32(PciConfigSpace& c, uint16_t off, uint32_t v)
{
    uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
    c.write(off, b);
}

TEST(PciConfigSpace, IdsAreReadOnly)
{
    PciConfigSpace c(PciIds{.vendor = 0x1af4, .device = 0x1042, .classCode = 0x018000, .revision = 1});
    EXPECT_EQ(read32(c, 0), 0x10421af4u);
    write32(c, 0, 0);
    EXPECT_EQ(read32(c, 0), 0x10421af4u);
    EXPECT_EQ(read32(c, 8), 0x01800001u);
    uint8_t beyond[4];
    c.read(0x100, beyond);
    EXPECT_EQ(beyond[0], 0);
}

TEST(PciConfigSpace, BarSizing)
{
    PciConfigSpace c(PciIds{});
    c.addBar(0, BarInfo{.size = 0x8000});
    c.addBar(2, BarInfo{.size = 0x100000, .is64 = true, .prefetchable = true});
    c.setBarAddress(0, 0xc0000000);
    EXPECT_EQ(read32(c, 0x10), 0xc0000000u);
    write32(c, 0x10, 0xffffffff);
    EXPECT_EQ(read32(c, 0x10), 0xffff8000u);  // size 32 KiB, 32-bit, not prefetchable
    write32(c, 0x18, 0xffffffff);
    write32(c, 0x1c, 0xffffffff);
    EXPECT_EQ(read32(c, 0x18), 0xfff0000cu);  // 1 MiB, 64-bit, prefetchable
    EXPECT_EQ(read32(c, 0x1c), 0xffffffffu);
    write32(c, 0x18, 0x12345678);
    write32(c, 0x1c, 0x1);
    EXPECT_EQ(c.barAddress(2), 0x112300000ull);
    EXPECT_EQ(read32(c, 0x14), 0u);  // the 64-bit BAR's upper half is not BAR 1
}

TEST(PciConfigSpace, CapabilityList)
{
    PciConfigSpace c(PciIds{});
    uint8_t body1[2] = {0xaa, 0xbb}, body2[6] = {};
    uint8_t w2[6] = {0xff};
    uint8_t first = c.addCapability(0x09, body1);
    uint8_t second = c.addCapability(0x11, body2, w2);
    EXPECT_TRUE(c.read16(kStatus) & kStatusCapabilities);
    EXPECT_EQ(c.read8(kCapabilitiesPointer), first);
    EXPECT_EQ(c.read8(first), 0x09);
    EXPECT_EQ(c.read8(first + 1), second);
    EXPECT_EQ(c.read8(second + 1), 0);
    EXPECT_EQ(second % 4, 0);
    uint8_t v = 0x5a;
    c.write(second + 2, {&v, 1});
    EXPECT_EQ(c.read8(second + 2), 0x5a);
    c.write(first + 2, {&v, 1});
    EXPECT_EQ(c.read8(first + 2), 0xaa);  // not writable
}

class Probe : public PciDevice {
public:
    Probe() : PciDevice(PciIds{.vendor = 0x1234, .device = 0x5678}) { config_.addBar(0, BarInfo{.size = 0x1000}); }
    void barRead(unsigned bar, uint64_t offset, std::span<uint8_t> data) override
    {
        for (auto& b : data)
            b = static_cast<uint8_t>(bar * 16 + offset);
    }
    void barMapped(unsigned, uint64_t address) override { mapped.push_back(address); }
    void barUnmapped(unsigned, uint64_t address) override { unmapped.push_back(address); }
    std::vector<uint64_t> mapped, unmapped;
};

TEST(PciBus, SlotsBarsAndCf8)
{
    IoBus mmio("MMIO");
    PciBus bus(mmio, 0xc0000000, 0x20000000);
    auto probe = std::make_shared<Probe>();
    auto address = bus.add(probe);
    EXPECT_EQ(address.slot, 1);  // slot 0 is the host bridge
    ASSERT_EQ(probe->mapped.size(), 1u);
    uint64_t bar = probe->mapped[0];
    EXPECT_GE(bar, 0xc0000000u);
    uint8_t byte;
    ASSERT_TRUE(mmio.read(bar + 3, {&byte, 1}));
    EXPECT_EQ(byte, 3);

    PciConfigIo io(bus);
    auto selectAndRead = [&](uint32_t address) {
        uint8_t a[4] = {uint8_t(address), uint8_t(address >> 8), uint8_t(address >> 16), uint8_t(address >> 24)};
        io.write(0, a);
        uint8_t d[4];
        io.read(4, d);
        return uint32_t{d[0]} | uint32_t{d[1]} << 8 | uint32_t{d[2]} << 16 | uint32_t{d[3]} << 24;
    };
    EXPECT_EQ(selectAndRead(0x80000000 | 1 << 11), 0x56781234u);       // 00:01.0
    EXPECT_EQ(selectAndRead(0x80000000) & 0xffff, 0x1b36u);             // host bridge
    EXPECT_EQ(selectAndRead(0x80000000 | 5 << 11), 0xffffffffu);        // empty slot
    EXPECT_EQ(selectAndRead(0x80000000 | 1 << 11 | 1 << 8), 0xffffffffu);  // function 1

    // ECAM reaches the same function.
    PciEcam ecam(bus);
    uint8_t id[2];
    ecam.read((1 << 15) | 2, id);
    EXPECT_EQ(id[0] | id[1] << 8, 0x5678);

    // The guest moves the BAR: sizing with decoding off maps nothing, the new address
    // is mapped once decoding is back on.
    uint8_t off[2] = {0, 0}, on[2] = {kCommandMemory, 0};
    bus.configWrite(address, kCommand, off);
    EXPECT_EQ(probe->unmapped.size(), 1u);
    EXPECT_FALSE(mmio.read(bar, {&byte, 1}));
    uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff};
    bus.configWrite(address, kBar0, ones);
    uint8_t moved[4] = {0x00, 0x00, 0x10, 0xc1};  // 0xc1100000
    bus.configWrite(address, kBar0, moved);
    EXPECT_EQ(probe->mapped.size(), 1u);
    bus.configWrite(address, kCommand, on);
    ASSERT_EQ(probe->mapped.size(), 2u);
    EXPECT_EQ(probe->mapped[1], 0xc1100000u);
    EXPECT_TRUE(mmio.read(0xc1100000, {&byte, 1}));
}

TEST(PciBus, FullSlotMap)
{
    IoBus mmio("MMIO");
    PciBus bus(mmio, 0xc0000000, 0x20000000);
    EXPECT_THROW(bus.add(std::make_shared<Probe>(), 0), Error);
    for (unsigned i = 1; i < PciBus::kSlots; ++i)
        bus.add(std::make_shared<Probe>());
    EXPECT_THROW(bus.add(std::make_shared<Probe>()), Error);
}

TEST(AddressAllocator, FirstFitAlignedAndFreed)
{
    AddressAllocator space(0x1000, 0x10000);
    EXPECT_FALSE(space.allocate(0));
    EXPECT_FALSE(space.allocate(0x3000));  // not a power of two
    EXPECT_EQ(space.allocate(0x1000), 0x1000u);
    EXPECT_EQ(space.allocate(0x4000), 0x4000u);  // aligned to its size, past the first
    EXPECT_EQ(space.allocate(0x1000), 0x2000u);  // the gap below is filled first
    EXPECT_EQ(space.used(), 0x6000u);
    space.free(0x4000);
    space.free(0x9999);  // never handed out: ignored
    EXPECT_EQ(space.used(), 0x2000u);
    EXPECT_EQ(space.allocate(0x4000), 0x4000u);  // the freed range comes back
    EXPECT_EQ(space.allocate(0x8000), 0x8000u);
    EXPECT_FALSE(space.allocate(0x8000));  // 0x10000 would end past the window
    EXPECT_EQ(space.allocate(0x1000), 0x3000u);
}

TEST(PciBus, ExplicitSlotsAndRemove)
{
    IoBus mmio("MMIO");
    PciBus bus(mmio, 0xc0000000, 0x20000000);
    auto first = std::make_shared<Probe>();
    EXPECT_EQ(bus.add(first, 7).slot, 7);
    EXPECT_THROW(bus.add(std::make_shared<Probe>(), 7), Error);  // taken
    EXPECT_THROW(bus.add(std::make_shared<Probe>(), PciBus::kSlots), Error);
    EXPECT_EQ(bus.add(std::make_shared<Probe>()).slot, 1);  // lowest free
    EXPECT_EQ(bus.mmioUsed(), 0x2000u);

    uint64_t bar = first->mapped.at(0);
    bus.remove(7);
    EXPECT_EQ(first->unmapped, std::vector<uint64_t>{bar});
    uint8_t byte;
    EXPECT_FALSE(mmio.read(bar, {&byte, 1}));
    EXPECT_EQ(bus.at(PciAddress{0, 7, 0}), nullptr);
    EXPECT_EQ(bus.mmioUsed(), 0x1000u);
    EXPECT_THROW(bus.remove(7), Error);  // already empty
    EXPECT_THROW(bus.remove(0), Error);  // the host bridge stays

    // The slot and the BAR range are free for the next device.
    auto next = std::make_shared<Probe>();
    EXPECT_EQ(bus.add(next, 7).slot, 7);
    EXPECT_EQ(next->mapped.at(0), bar);
}

// A hot-added function comes up as real hardware does: placed, but decoding nothing until
// the guest enables it (wherever it puts the BAR).
TEST(PciBus, HotplugAddLeavesDecodingToTheGuest)
{
    IoBus mmio("MMIO");
    PciBus bus(mmio, 0xc0000000, 0x20000000);
    auto probe = std::make_shared<Probe>();
    auto address = bus.add(probe, 4, true);
    EXPECT_TRUE(probe->mapped.empty());
    EXPECT_EQ(probe->config().command() & kCommandMemory, 0);
    uint8_t moved[4] = {0x00, 0x00, 0x20, 0xc0};  // 0xc0200000
    bus.configWrite(address, kBar0, moved);
    uint8_t on[2] = {kCommandMemory, 0};
    bus.configWrite(address, kCommand, on);
    ASSERT_EQ(probe->mapped.size(), 1u);
    EXPECT_EQ(probe->mapped[0], 0xc0200000u);
    uint8_t byte;
    EXPECT_TRUE(mmio.read(0xc0200000, {&byte, 1}));
    bus.remove(4);
    EXPECT_FALSE(mmio.read(0xc0200000, {&byte, 1}));
    EXPECT_EQ(bus.mmioUsed(), 0u);
}

class RecordingSink : public MsiSink {
public:
    void update(uint16_t vector, const MsiMessage& message, bool usable) override
    {
        routes[vector] = usable ? message.address : 0;
    }
    void fire(uint16_t vector) override { fired.push_back(vector); }
    std::map<uint16_t, uint64_t> routes;
    std::vector<uint16_t> fired;
};

void writeEntry(MsixTable& t, uint16_t v, uint64_t address, uint32_t data, bool masked)
{
    uint8_t e[16];
    std::memcpy(e, &address, 8);
    std::memcpy(e + 8, &data, 4);
    uint32_t ctrl = masked ? 1 : 0;
    std::memcpy(e + 12, &ctrl, 4);
    t.tableWrite(16ull * v, e);
}

TEST(MsixTable, MaskingPendingAndRoutes)
{
    RecordingSink sink;
    MsixTable table(3, sink);
    EXPECT_FALSE(table.signal(0));  // MSI-X off: nothing can be delivered
    table.setControl(true, false);
    EXPECT_TRUE(table.signal(0));   // vectors start masked: pending
    EXPECT_TRUE(sink.fired.empty());
    uint8_t pba;
    table.pbaRead(0, {&pba, 1});
    EXPECT_EQ(pba, 1);
    writeEntry(table, 0, 0xfee00000, 0x4041, false);  // unmasking delivers the pending one
    EXPECT_EQ(sink.routes[0], 0xfee00000u);
    ASSERT_EQ(sink.fired.size(), 1u);
    table.pbaRead(0, {&pba, 1});
    EXPECT_EQ(pba, 0);
    table.signal(0);
    EXPECT_EQ(sink.fired.size(), 2u);
    table.setControl(true, true);  // function mask
    EXPECT_EQ(sink.routes[0], 0u);
    table.signal(0);
    EXPECT_EQ(sink.fired.size(), 2u);
    table.setControl(true, false);
    EXPECT_EQ(sink.fired.size(), 3u);
    // Reading back what was written; past the table reads all-ones.
    uint8_t back[4];
    table.tableRead(8, back);
    EXPECT_EQ(back[0], 0x41);
    table.tableRead(16 * 3, back);
    EXPECT_EQ(back[0], 0xff);
    EXPECT_TRUE(table.signal(MsixTable::kNoVector));  // no vector chosen: ignored
    EXPECT_EQ(sink.fired.size(), 3u);
}

}  // namespace
