// What a client's bytes cost the daemon: a reader holds memory only for bytes that
// arrived and gives large buffers back once a packet is out; the incoming-bytes cap
// stops the growers beyond the biggest few, never the small calls, and lets the next
// one in as each finishes, so a crowd half-way through large messages cannot deadlock.
#include <gtest/gtest.h>

#include <vector>

#include "InputBudget.h"
#include "Packet.h"

using namespace mica::rpc;

namespace {

Header callOf(std::int32_t proc) { return {kRemoteProgram, 1, proc, MessageType::Call, 1, MessageStatus::Ok}; }

}  // namespace

TEST(PacketReaderMemory, LargePacketMemoryFollowsItsBytesAndGoesAfterIt)
{
    std::vector<std::uint8_t> payload(kPayloadMax, 0x5a);
    auto bytes = encodePacket(callOf(3), payload);
    PacketReader r;
    std::size_t at = 0;
    // An announced 32 MiB costs nothing until it is sent.
    r.append({bytes.data(), 28});
    at = 28;
    EXPECT_LE(r.heldBytes(), PacketReader::kKeptCapacity);
    EXPECT_EQ(r.partialLength(), bytes.size());
    while (at < bytes.size()) {
        std::size_t n = std::min<std::size_t>(65536, bytes.size() - at);
        ASSERT_TRUE(r.append({bytes.data() + at, n}));
        at += n;
        // Never more than twice what arrived, never past the packet's end.
        EXPECT_LE(r.heldBytes(), std::max(2 * r.buffered(), PacketReader::kKeptCapacity));
        EXPECT_LE(r.heldBytes(), bytes.size());
    }
    EXPECT_EQ(r.partialLength(), 0u);
    auto p = r.next();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, payload);
    EXPECT_EQ(r.heldBytes(), 0u) << "the buffer became the payload";
}

TEST(PacketReaderMemory, ShrinksWhenALargePacketLeavesASmallRemainder)
{
    auto big = encodePacket(callOf(3), std::vector<std::uint8_t>(1 << 20, 1));
    auto small = encodePacket(callOf(4), {});
    std::vector<std::uint8_t> stream = big;
    stream.insert(stream.end(), small.begin(), small.end());
    stream.insert(stream.end(), small.begin(), small.begin() + 10);   // the next one's start
    PacketReader r;
    ASSERT_TRUE(r.append(stream));
    ASSERT_TRUE(r.next());
    EXPECT_LE(r.heldBytes(), PacketReader::kKeptCapacity);
    ASSERT_TRUE(r.next());
    EXPECT_FALSE(r.next());
    EXPECT_EQ(r.buffered(), 10u);
    EXPECT_TRUE(r.append({small.data() + 10, small.size() - 10}));
    auto last = r.next();
    ASSERT_TRUE(last);
    EXPECT_EQ(last->header.proc, 4);
    EXPECT_LE(r.heldBytes(), PacketReader::kKeptCapacity);
}

TEST(PacketReaderMemory, ManySmallPacketsKeepASmallBuffer)
{
    auto small = encodePacket(callOf(4), std::vector<std::uint8_t>(100, 2));
    PacketReader r;
    for (int i = 0; i < 10000; ++i) {
        ASSERT_TRUE(r.append(small));
        ASSERT_TRUE(r.next());
    }
    EXPECT_LE(r.heldBytes(), PacketReader::kKeptCapacity);
}

TEST(InputBudget, UnderTheCapEveryoneReads)
{
    InputBudget b(100, 2);
    EXPECT_FALSE(b.update(1, 40, true));
    EXPECT_FALSE(b.update(2, 50, true));
    EXPECT_TRUE(b.mayRead(1) && b.mayRead(2) && b.mayRead(3));
    EXPECT_EQ(b.held(), 90u);
}

TEST(InputBudget, OverTheCapTheBiggestGrowersGoOnAndSmallCallsFlow)
{
    InputBudget b(100, 2);
    b.update(1, 30, true);
    b.update(2, 20, true);
    b.update(3, 10, false);   // a small call half-way
    b.update(4, 45, true);    // over: 105
    ASSERT_TRUE(b.over());
    EXPECT_EQ(b.continuing(), (std::set<std::uint64_t>{4, 1}));
    EXPECT_TRUE(b.mayRead(4));
    EXPECT_TRUE(b.mayRead(1));
    EXPECT_FALSE(b.mayRead(2));
    EXPECT_TRUE(b.mayRead(3)) << "small calls always flow";
    EXPECT_TRUE(b.mayRead(9)) << "a client holding nothing may read";
    // Client 2 waits holding what it has; the continuing ones grow and finish.
    EXPECT_FALSE(b.update(4, 80, true));
    EXPECT_TRUE(b.update(4, 0, false)) << "4 finished: 2 is let in";   // 30+20+10 = 60: under
    EXPECT_TRUE(b.mayRead(2));
}

TEST(InputBudget, AFinishedGrowerHandsItsPlaceToTheNextBiggest)
{
    InputBudget b(100, 1);
    b.update(1, 50, true);
    b.update(2, 40, true);
    b.update(3, 30, true);   // over: 120; only 1 goes on
    EXPECT_EQ(b.continuing(), (std::set<std::uint64_t>{1}));
    EXPECT_FALSE(b.mayRead(2));
    // 1's message is complete (still held until handled): 2 goes on, no deadlock.
    EXPECT_TRUE(b.update(1, 60, false));
    EXPECT_EQ(b.continuing(), (std::set<std::uint64_t>{2}));
    EXPECT_TRUE(b.mayRead(2));
    EXPECT_FALSE(b.mayRead(3));
    // A client that leaves does the same.
    EXPECT_TRUE(b.remove(2));   // 60 + 30 = 90: under the cap, all read again
    EXPECT_TRUE(b.mayRead(3));
    EXPECT_FALSE(b.update(3, 50, true));   // 110: over, 3 is the only grower
    EXPECT_TRUE(b.mayRead(3));
}

TEST(InputBudget, EveryoneHalfWayStillProgresses)
{
    // 200 clients each half-way through a large message, far over the cap: letting the
    // ones that may read finish, again and again, empties the whole crowd.
    InputBudget b(256, 4);
    std::set<std::uint64_t> waiting;
    for (std::uint64_t id = 1; id <= 200; ++id) {
        b.update(id, 10, true);
        waiting.insert(id);
    }
    for (int round = 0; round < 1000 && !waiting.empty(); ++round) {
        std::vector<std::uint64_t> going;
        for (auto id : waiting)
            if (b.mayRead(id))
                going.push_back(id);
        ASSERT_FALSE(going.empty()) << "deadlock with " << b.held() << " bytes held";
        for (auto id : going) {
            b.update(id, 32, true);
            b.update(id, 0, false);
            waiting.erase(id);
        }
    }
    EXPECT_TRUE(waiting.empty());
    EXPECT_EQ(b.held(), 0u);
}
