// Framing: packets split anywhere still come out whole; impossible lengths are refused
// as soon as the length word is complete, before the payload is buffered.
#include <gtest/gtest.h>

#include "Packet.h"

using namespace mica::rpc;

namespace {

std::vector<std::uint8_t> hex(std::string_view h)
{
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

// virsh's first packet (rpc.md 1.7).
const char* kAuthList = "0000001c200080860000000100000042000000000000000000000000";

}  // namespace

TEST(Packet, EncodesAuthListReplyLikeLibvirtd)
{
    Header h{kRemoteProgram, 1, 66, MessageType::Reply, 0, MessageStatus::Ok};
    auto payload = hex("0000000100000000");
    EXPECT_EQ(encodePacket(h, payload),
              hex("00000024200080860000000100000042000000010000000000000000" "0000000100000000"));
}

TEST(Packet, ReadsWholeAndSplitPackets)
{
    auto bytes = hex(kAuthList);
    auto two = bytes;
    two.insert(two.end(), bytes.begin(), bytes.end());
    for (std::size_t chunk = 1; chunk <= two.size(); ++chunk) {
        PacketReader r;
        int got = 0;
        for (std::size_t at = 0; at < two.size(); at += chunk) {
            ASSERT_TRUE(r.append({two.data() + at, std::min(chunk, two.size() - at)}));
            while (auto p = r.next()) {
                EXPECT_EQ(p->header.prog, kRemoteProgram);
                EXPECT_EQ(p->header.proc, 66);
                EXPECT_EQ(p->header.type, MessageType::Call);
                EXPECT_TRUE(p->payload.empty());
                ++got;
            }
        }
        EXPECT_EQ(got, 2) << "chunk " << chunk;
        EXPECT_EQ(r.buffered(), 0u);
    }
}

TEST(Packet, RefusesShortLength)
{
    PacketReader r;
    EXPECT_FALSE(r.append(hex("0000001b")));
    EXPECT_TRUE(r.invalid());
    EXPECT_FALSE(r.next());
}

TEST(Packet, RefusesOversizeLengthBeforeBuffering)
{
    PacketReader r;
    // 4 + 32 MiB is the largest legal packet; one byte more is refused at once.
    EXPECT_TRUE(r.append(hex("02000004")));
    EXPECT_FALSE(r.invalid());
    PacketReader r2;
    EXPECT_FALSE(r2.append(hex("02000005")));
    EXPECT_NE(r2.error().find("exceeds"), std::string::npos);
    PacketReader r3;
    EXPECT_FALSE(r3.append(hex("ffffffff")));
}

TEST(Packet, RefusesUnknownTypeAndStatus)
{
    PacketReader r;
    ASSERT_TRUE(r.append(hex("0000001c200080860000000100000042000000070000000000000000")));
    EXPECT_FALSE(r.next());
    EXPECT_TRUE(r.invalid());
    PacketReader r2;
    ASSERT_TRUE(r2.append(hex("0000001c200080860000000100000042000000000000000000000003")));
    EXPECT_FALSE(r2.next());
    EXPECT_TRUE(r2.invalid());
}

TEST(Packet, OversizeFollowerIsCaughtAfterAGoodPacket)
{
    PacketReader r;
    auto bytes = hex(kAuthList);
    auto bad = hex("7fffffff");
    bytes.insert(bytes.end(), bad.begin(), bad.end());
    r.append(bytes);
    EXPECT_TRUE(r.next().has_value());
    EXPECT_TRUE(r.invalid());
}
