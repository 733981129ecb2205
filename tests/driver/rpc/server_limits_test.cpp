// The server's client limits over real sockets: read-only clients cannot take the slots
// kept for the read-write socket, silent connections are dropped after the anonymous
// timeout, and a client that sent a large message keeps no large buffer afterwards.
#include "ServerFixture.h"

using namespace mica;
using namespace mica::rpc;
using namespace mica::rpc::test;
using namespace mica::driver;

namespace {

class ServerLimitsTest : public ServerFixture {
protected:
    static std::optional<Packet> receive(int fd)
    {
        PacketReader reader;
        return ServerFixture::receive(fd, reader);
    }
    static void open(int fd)
    {
        ASSERT_TRUE(sendAll(fd, encodePacket(callHeader(kProcConnectOpen, 1), connectOpenArgs())));
        auto p = receive(fd);
        ASSERT_TRUE(p);
        ASSERT_EQ(p->header.status, MessageStatus::Ok);
    }
    static bool answersGetType(int fd)
    {
        if (!sendAll(fd, encodePacket(callHeader(kProcConnectGetType, 2), {})))
            return false;
        auto p = receive(fd);
        return p && p->header.status == MessageStatus::Ok;
    }
};

}  // namespace

TEST_F(ServerLimitsTest, ReadOnlyClientsCannotTakeTheReadWriteSlots)
{
    ServerOptions o;
    o.maxClients = 6;
    o.readWriteReservedClients = 2;
    start(o, true);
    std::vector<UniqueFd> ro;
    for (int i = 0; i < 4; ++i) {
        ro.push_back(connect(ro_));
        open(ro.back().get());
    }
    // The fifth read-only connection waits in the backlog: accepted, it would be answered.
    UniqueFd extra = connect(ro_);
    EXPECT_EQ(onLoop([this] { return server_->clientCount(true); }), 4u);
    // The read-write socket still takes two.
    UniqueFd rw1 = connect(rw_), rw2 = connect(rw_);
    open(rw1.get());
    open(rw2.get());
    EXPECT_TRUE(answersGetType(rw1.get()));
    EXPECT_EQ(onLoop([this] { return server_->clientCount(false); }), 2u);
    // A read-only client leaving lets the waiting one in.
    ro.pop_back();
    open(extra.get());
    EXPECT_EQ(onLoop([this] { return server_->clientCount(true); }), 4u);
}

TEST_F(ServerLimitsTest, SilentConnectionsTimeOutOpenedOnesStay)
{
    ServerOptions o;
    o.anonymousTimeoutMs = 200;
    o.keepaliveIntervalMs = 0;
    start(o, true);
    UniqueFd opened = connect(rw_);
    open(opened.get());
    UniqueFd silent = connect(rw_);
    UniqueFd silentRo = connect(ro_);
    char byte;
    EXPECT_EQ(::recv(silent.get(), &byte, 1, 0), 0) << "closed by the daemon";
    EXPECT_EQ(::recv(silentRo.get(), &byte, 1, 0), 0) << "closed by the daemon";
    EXPECT_TRUE(answersGetType(opened.get()));
    EXPECT_EQ(onLoop([this] { return server_->anonymousCount(); }), 0u);
}

TEST_F(ServerLimitsTest, AnonymousLimitIsPerSocket)
{
    ServerOptions o;
    o.maxAnonymousClients = 2;
    o.anonymousTimeoutMs = 0;
    start(o, true);
    std::vector<UniqueFd> silent;
    for (int i = 0; i < 4; ++i)
        silent.push_back(connect(ro_));   // two accepted, two in the backlog
    UniqueFd rw = connect(rw_);
    open(rw.get());
    EXPECT_TRUE(answersGetType(rw.get()));
    EXPECT_EQ(onLoop([this] { return server_->clientCount(true); }), 2u);
}

TEST_F(ServerLimitsTest, LargeMessagesLeaveNothingBehind)
{
    ServerOptions o;
    o.maxIncomingBytes = 8u << 20;   // below the messages: the cap must not deadlock
    start(o, true);
    constexpr int kClients = 6;
    std::vector<UniqueFd> fds;
    for (int i = 0; i < kClients; ++i) {
        fds.push_back(connect(rw_));
        open(fds.back().get());
    }
    auto frame = encodePacket(callHeader(kProcConnectGetType, 2), std::vector<std::uint8_t>(kPayloadMax / 2, 0));
    std::vector<std::thread> senders;
    std::vector<int> answered(kClients, 0);
    for (int i = 0; i < kClients; ++i)
        senders.emplace_back([&, i] {
            int fd = fds[static_cast<std::size_t>(i)].get();
            answered[static_cast<std::size_t>(i)] = sendAll(fd, frame) && receive(fd).has_value();
        });
    for (auto& t : senders)
        t.join();
    for (int i = 0; i < kClients; ++i)
        EXPECT_TRUE(answered[static_cast<std::size_t>(i)]) << "client " << i;
    EXPECT_LE(onLoop([this] { return server_->incomingBytes(); }), kClients * PacketReader::kKeptCapacity);
    for (auto& fd : fds)
        EXPECT_TRUE(answersGetType(fd.get()));
}
