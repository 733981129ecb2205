// The split virtqueue against fake guest memory: well-formed chains, and everything a
// malicious driver can do to the rings (loops, out-of-range addresses, bad indirect
// tables, too many buffers) must end in VirtQueueError, never a crash.
#include <gtest/gtest.h>

#include "FakeDriver.h"
#include "VirtioDevice.h"

using namespace mica;
using namespace mica::virtio;
using mica::virtio::test::FakeQueue;

namespace {

constexpr uint64_t kMemSize = 16ull << 20;
constexpr uint64_t kBuf = 0x100000;

class VirtQueueTest : public ::testing::Test {
protected:
    GuestMemory memory{kMemSize, 0xc0000000, 0x100000000};
    FakeQueue driver{memory, 8};
    VirtQueue make(bool eventIdx = false, bool indirect = true) { return VirtQueue(memory, driver.layout(), eventIdx, indirect); }
};

TEST_F(VirtQueueTest, EmptyQueuePopsNothing)
{
    auto q = make();
    EXPECT_FALSE(q.pop());
}

TEST_F(VirtQueueTest, ReadableThenWritableChain)
{
    driver.setDescriptor(0, kBuf, 16, kDescNext, 1);
    driver.setDescriptor(1, kBuf + 0x1000, 512, kDescNext | kDescWrite, 2);
    driver.setDescriptor(2, kBuf + 0x2000, 1, kDescWrite, 0);
    driver.offer(0);
    auto q = make();
    auto chain = q.pop();
    ASSERT_TRUE(chain);
    EXPECT_EQ(chain->head, 0);
    ASSERT_EQ(chain->readable.size(), 1u);
    ASSERT_EQ(chain->writable.size(), 2u);
    EXPECT_EQ(chain->readableBytes(), 16u);
    EXPECT_EQ(chain->writableBytes(), 513u);
    EXPECT_EQ(chain->readable[0].data(), memory.slice(kBuf, 16).data());
    EXPECT_FALSE(q.pop());
    q.pushUsed(0, 513);
    EXPECT_EQ(driver.usedIdx(), 1);
    EXPECT_EQ(driver.usedId(0), 0u);
    EXPECT_EQ(driver.usedLen(0), 513u);
}

TEST_F(VirtQueueTest, LoopIsRefused)
{
    driver.setDescriptor(0, kBuf, 16, kDescNext, 1);
    driver.setDescriptor(1, kBuf, 16, kDescNext, 0);
    driver.offer(0);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, SelfLoopIsRefused)
{
    driver.setDescriptor(3, kBuf, 16, kDescNext, 3);
    driver.offer(3);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, BufferOutsideRamIsRefused)
{
    driver.setDescriptor(0, kMemSize - 8, 16, 0, 0);
    driver.offer(0);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, AddressWrapIsRefused)
{
    driver.setDescriptor(0, ~0ull - 4, 16, 0, 0);
    driver.offer(0);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, HeadPastTableIsRefused)
{
    driver.offer(8);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, NextPastTableIsRefused)
{
    driver.setDescriptor(0, kBuf, 16, kDescNext, 200);
    driver.offer(0);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, ReadableAfterWritableIsRefused)
{
    driver.setDescriptor(0, kBuf, 16, kDescNext | kDescWrite, 1);
    driver.setDescriptor(1, kBuf, 16, 0, 0);
    driver.offer(0);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, TooManyAvailableIsRefused)
{
    driver.put16(FakeQueue::kAvail + 2, 9);  // 9 new buffers in a queue of 8
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, RingsOutsideRamAreRefused)
{
    QueueLayout bad = driver.layout();
    bad.usedRing = kMemSize - 4;
    EXPECT_THROW(VirtQueue(memory, bad, false, false), VirtQueueError);
    bad = driver.layout();
    bad.descTable = 0x10008;  // misaligned
    EXPECT_THROW(VirtQueue(memory, bad, false, false), VirtQueueError);
    bad = driver.layout();
    bad.size = 6;
    EXPECT_THROW(VirtQueue(memory, bad, false, false), VirtQueueError);
}

TEST_F(VirtQueueTest, IndirectTable)
{
    uint64_t table = 0x200000;
    driver.setDescriptor(0, kBuf, 16, kDescNext, 1, table);
    driver.setDescriptor(1, kBuf + 0x1000, 64, kDescWrite, 0, table);
    driver.setDescriptor(5, table, 32, kDescIndirect, 0);
    driver.offer(5);
    auto q = make();
    auto chain = q.pop();
    ASSERT_TRUE(chain);
    EXPECT_EQ(chain->head, 5);
    EXPECT_EQ(chain->readableBytes(), 16u);
    EXPECT_EQ(chain->writableBytes(), 64u);
}

TEST_F(VirtQueueTest, IndirectWithoutTheFeatureIsRefused)
{
    driver.setDescriptor(0, 0x200000, 32, kDescIndirect, 0);
    driver.offer(0);
    auto q = make(false, false);
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, NestedIndirectIsRefused)
{
    uint64_t table = 0x200000;
    driver.setDescriptor(0, table, 16, kDescIndirect, 0, table);
    driver.setDescriptor(0, table, 16, kDescIndirect, 0);
    driver.offer(0);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, IndirectLoopAndBadLengthAreRefused)
{
    uint64_t table = 0x200000;
    driver.setDescriptor(0, kBuf, 16, kDescNext, 1, table);
    driver.setDescriptor(1, kBuf, 16, kDescNext, 0, table);
    driver.setDescriptor(0, table, 32, kDescIndirect, 0);
    driver.setDescriptor(1, table, 24, kDescIndirect, 0);    // not a multiple of 16
    driver.setDescriptor(2, kMemSize - 16, 32, kDescIndirect, 0);  // table past RAM
    driver.offer(0);
    driver.offer(1);
    driver.offer(2);
    auto q = make();
    EXPECT_THROW(q.pop(), VirtQueueError);
    EXPECT_THROW(q.pop(), VirtQueueError);
    EXPECT_THROW(q.pop(), VirtQueueError);
}

TEST_F(VirtQueueTest, EventIndexSuppressesInterrupts)
{
    for (uint16_t i = 0; i < 3; ++i) {
        driver.setDescriptor(i, kBuf, 16, kDescWrite, 0);
        driver.offer(i);
    }
    auto q = make(true);
    // The driver wants an interrupt once used index passes 2 (used_event = 1).
    driver.put16(FakeQueue::kAvail + 4 + 2 * 8, 1);
    auto c = q.pop();
    q.pushUsed(c->head, 0);
    EXPECT_TRUE(q.needsInterrupt());  // the first one always goes out
    c = q.pop();
    q.pushUsed(c->head, 0);            // used idx 2 crosses used_event 1
    EXPECT_TRUE(q.needsInterrupt());
    c = q.pop();
    q.pushUsed(c->head, 0);            // used idx 3: event 1 already passed
    EXPECT_FALSE(q.needsInterrupt());
    // The device published how far it read (avail_event) for the driver's kicks.
    EXPECT_FALSE(q.pop());
    EXPECT_EQ(driver.get16(FakeQueue::kUsed + 4 + 8 * 8), 3);
}

TEST_F(VirtQueueTest, NoInterruptFlagWithoutEventIndex)
{
    driver.setDescriptor(0, kBuf, 16, kDescWrite, 0);
    driver.offer(0);
    auto q = make();
    driver.put16(FakeQueue::kAvail, kAvailNoInterrupt);
    auto c = q.pop();
    q.pushUsed(c->head, 0);
    EXPECT_FALSE(q.needsInterrupt());
}

TEST(ChainIo, ReaderAndWriterCrossBuffers)
{
    uint8_t a[3] = {}, b[5] = {};
    std::vector<std::span<uint8_t>> buffers{a, b};
    ChainWriter w(buffers);
    uint8_t src[7] = {1, 2, 3, 4, 5, 6, 7};
    EXPECT_EQ(w.write(src), 7u);
    EXPECT_EQ(b[3], 7);
    ChainReader r(buffers);
    uint8_t out[4];
    EXPECT_EQ(r.read(out), 4u);
    EXPECT_EQ(out[3], 4);
    auto rest = r.rest();
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].size(), 4u);
}

}  // namespace
