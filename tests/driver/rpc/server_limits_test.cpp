// The server's client limits over real sockets: read-only clients cannot take the slots
// kept for the read-write socket, silent connections are dropped after the anonymous
// timeout, and a client that sent a large message keeps no large buffer afterwards.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "Listeners.h"
#include "RemoteProgram.h"
#include "Server.h"
#include "TestClient.h"

using namespace mica;
using namespace mica::rpc;
using namespace mica::rpc::test;
using namespace mica::driver;

namespace {

class ServerLimitsTest : public ::testing::Test {
protected:
    void start(ServerOptions options)
    {
        dir_ = std::filesystem::temp_directory_path() / ("mica-limits-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        rw_ = (dir_ / "sock").string();
        ro_ = (dir_ / "sock-ro").string();
        registerRemoteProgram(dispatcher_, ctx_);
        server_ = std::make_unique<Server>(loop_, dispatcher_, options);
        server_->addListener(bindUnixSocket(rw_, 0600), false);
        server_->addListener(bindUnixSocket(ro_, 0666), true);
        loop_.setTick(50, [this] { server_->tick(); });
        thread_ = std::thread([this] { loop_.run(); });
    }
    void TearDown() override
    {
        loop_.post([this] { loop_.quit(); });
        thread_.join();
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    template <typename F>
    auto onLoop(F f)
    {
        std::promise<decltype(f())> p;
        loop_.post([&] { p.set_value(f()); });
        return p.get_future().get();
    }

    static UniqueFd connect(const std::string& path)
    {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        timeval tv{10, 0};   // a hung test fails instead of hanging
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return fd;
    }
    static bool sendAll(int fd, const std::vector<std::uint8_t>& bytes)
    {
        for (std::size_t at = 0; at < bytes.size();) {
            ssize_t n = ::send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            at += static_cast<std::size_t>(n);
        }
        return true;
    }
    static std::optional<Packet> receive(int fd)
    {
        PacketReader reader;
        for (;;) {
            if (auto p = reader.next())
                return p;
            std::uint8_t buf[4096];
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                return std::nullopt;
            reader.append({buf, static_cast<std::size_t>(n)});
        }
    }
    static void open(int fd)
    {
        XdrEncoder e;
        e.putOptionalString(std::string("mica:///system"));
        e.putU32(0);
        ASSERT_TRUE(sendAll(fd, encodePacket(callHeader(kProcConnectOpen, 1), e.bytes())));
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

    std::filesystem::path dir_;
    std::string rw_, ro_;
    EmptyDomainTable domains_;
    HostInfo host_;
    RemoteProgramContext ctx_{DaemonMode::System, domains_, host_, {}};
    Dispatcher dispatcher_;
    EventLoop loop_;
    std::unique_ptr<Server> server_;
    std::thread thread_;
};

}  // namespace

TEST_F(ServerLimitsTest, ReadOnlyClientsCannotTakeTheReadWriteSlots)
{
    ServerOptions o;
    o.maxClients = 6;
    o.readWriteReservedClients = 2;
    start(o);
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
    start(o);
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
    start(o);
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
    start(o);
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
