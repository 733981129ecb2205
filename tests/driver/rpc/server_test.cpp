// The server over real unix sockets: replies, events to registered clients, keepalive
// PONG, and a client that never reads its replies not stalling another.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <fcntl.h>
#include <poll.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "RpcError.h"
#include "ServerFixture.h"

using namespace mica;
using namespace mica::rpc;
using namespace mica::rpc::test;
using namespace mica::driver;

namespace {

class ServerTest : public ServerFixture {
protected:
    void SetUp() override
    {
        ServerOptions options;
        options.maxInFlight = 4;
        start(options);
    }
    UniqueFd connect() { return ServerFixture::connect(rw_); }
    static void send(int fd, const Header& h, const std::vector<std::uint8_t>& payload = {})
    {
        ASSERT_TRUE(sendAll(fd, encodePacket(h, payload)));
    }
    Packet roundTrip(int fd, PacketReader& reader, std::int32_t proc, std::uint32_t serial,
                     const std::vector<std::uint8_t>& args = {})
    {
        send(fd, callHeader(proc, serial), args);
        auto p = receive(fd, reader);
        if (!p) {
            ADD_FAILURE() << "no reply to procedure " << proc << " (serial " << serial << ")";
            return {};
        }
        EXPECT_EQ(p->header.serial, serial);
        EXPECT_EQ(p->header.type, MessageType::Reply);
        return *p;
    }
    void openConnection(int fd, PacketReader& reader)
    {
        auto p = roundTrip(fd, reader, kProcConnectOpen, 1, connectOpenArgs());
        ASSERT_EQ(p.header.status, MessageStatus::Ok);
    }
};

}  // namespace

TEST_F(ServerTest, AnswersAuthListAndKeepalivePing)
{
    UniqueFd fd = connect();
    PacketReader r;
    auto p = roundTrip(fd.get(), r, kProcAuthList, 0);
    EXPECT_EQ(p.header.status, MessageStatus::Ok);
    EXPECT_EQ(p.payload, hex("0000000100000000"));
    send(fd.get(), {kKeepaliveProgram, 1, kKeepalivePing, MessageType::Message, 0, MessageStatus::Ok});
    auto pong = receive(fd.get(), r);
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->header.prog, kKeepaliveProgram);
    EXPECT_EQ(pong->header.proc, kKeepalivePong);
    EXPECT_EQ(pong->header.type, MessageType::Message);
}

TEST_F(ServerTest, DeliversLifecycleEventsToRegisteredClientsOnly)
{
    UniqueFd a = connect(), b = connect();
    PacketReader ra, rb;
    openConnection(a.get(), ra);
    openConnection(b.get(), rb);
    XdrEncoder reg;
    reg.putI32(VIR_DOMAIN_EVENT_ID_LIFECYCLE);
    reg.putBool(false);
    auto p = roundTrip(a.get(), ra, kProcConnectDomainEventCallbackRegisterAny, 2, reg.bytes());
    ASSERT_EQ(p.header.status, MessageStatus::Ok);

    DomainRef dom{"vm1", {}, 3};
    dom.uuid[15] = 1;
    loop_.post([&] { server_->emitDomainLifecycle(dom, VIR_DOMAIN_EVENT_STARTED, 0); });
    auto ev = receive(a.get(), ra);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->header.type, MessageType::Message);
    EXPECT_EQ(ev->header.proc, kProcDomainEventCallbackLifecycle);
    XdrDecoder d(ev->payload);
    EXPECT_EQ(d.getI32(), 0);   // callback id
    EXPECT_EQ(decodeDomain(d), dom);
    EXPECT_EQ(d.getI32(), VIR_DOMAIN_EVENT_STARTED);
    EXPECT_EQ(d.getI32(), 0);

    // b registered nothing: its next packet is the reply to its next call.
    auto reply = roundTrip(b.get(), rb, kProcConnectGetType, 7);
    EXPECT_EQ(reply.header.proc, kProcConnectGetType);
}

TEST_F(ServerTest, ClientThatDoesNotReadDoesNotStallOthers)
{
    UniqueFd slow = connect();
    PacketReader rs;
    openConnection(slow.get(), rs);
    // Pipeline far more replies than socket buffers hold, and never read them.
    std::vector<std::uint8_t> burst;
    for (std::uint32_t i = 0; i < 20000; ++i) {
        auto pkt = encodePacket(callHeader(kProcNodeGetInfo, 100 + i), {});
        burst.insert(burst.end(), pkt.begin(), pkt.end());
    }
    ::fcntl(slow.get(), F_SETFL, O_NONBLOCK);
    std::size_t sent = 0;
    while (sent < burst.size()) {
        ssize_t n = ::send(slow.get(), burst.data() + sent, burst.size() - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;   // the server stopped reading us: exactly the back-pressure wanted
        sent += static_cast<std::size_t>(n);
    }
    UniqueFd fast = connect();
    PacketReader rf;
    auto p = roundTrip(fast.get(), rf, kProcAuthList, 0);
    EXPECT_EQ(p.header.status, MessageStatus::Ok);
    openConnection(fast.get(), rf);
    EXPECT_EQ(roundTrip(fast.get(), rf, kProcConnectGetType, 2).header.status, MessageStatus::Ok);
}

TEST_F(ServerTest, GarbageClosesOnlyThatConnection)
{
    UniqueFd bad = connect();
    std::uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    ::send(bad.get(), junk, sizeof junk, MSG_NOSIGNAL);
    std::uint8_t buf[16];
    EXPECT_EQ(::recv(bad.get(), buf, sizeof buf, 0), 0);   // EOF: dropped
    UniqueFd good = connect();
    PacketReader r;
    EXPECT_EQ(roundTrip(good.get(), r, kProcAuthList, 0).header.status, MessageStatus::Ok);
}

TEST_F(ServerTest, ConnectCloseHangsUpAfterTheReply)
{
    UniqueFd fd = connect();
    PacketReader r;
    openConnection(fd.get(), r);
    EXPECT_EQ(roundTrip(fd.get(), r, kProcConnectClose, 5).header.status, MessageStatus::Ok);
    std::uint8_t buf[16];
    EXPECT_EQ(::recv(fd.get(), buf, sizeof buf, 0), 0);
}

TEST_F(ServerTest, DeferredRepliesArriveLaterAndOutOfOrder)
{
    // A slow procedure answered from another thread; a quick call made after it is
    // answered first, matched by serial as libvirt's client does.
    std::shared_ptr<DeferredReply> pending;
    std::mutex m;
    std::condition_variable cv;
    loop_.post([&] {
        dispatcher_.add(kRemoteProgram, 9, {[&](CallContext& ctx, XdrDecoder& args, XdrEncoder&) {
                                                args.expectEnd();
                                                std::lock_guard lock(m);
                                                pending = ctx.defer();
                                                cv.notify_all();
                                            }, false});
        dispatcher_.add(kRemoteProgram, 10, {[&](CallContext& ctx, XdrDecoder&, XdrEncoder&) {
                                                 ctx.defer();   // dropped at once
                                             }, false});
    });
    UniqueFd fd = connect();
    PacketReader r;
    openConnection(fd.get(), r);
    send(fd.get(), callHeader(9, 50));
    {
        std::unique_lock lock(m);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return pending != nullptr; }));
    }
    auto quick = roundTrip(fd.get(), r, kProcConnectGetType, 51);
    EXPECT_EQ(quick.header.status, MessageStatus::Ok);
    std::thread worker([&] {
        XdrEncoder ret;
        ret.putI32(42);
        pending->succeed(ret.take());
        pending->succeed({});   // a second answer is ignored
        pending.reset();
    });
    auto slow = receive(fd.get(), r);
    worker.join();
    ASSERT_TRUE(slow);
    EXPECT_EQ(slow->header.serial, 50u);
    EXPECT_EQ(slow->header.status, MessageStatus::Ok);
    EXPECT_EQ(slow->payload, hex("0000002a"));

    auto dropped = roundTrip(fd.get(), r, 10, 52);
    EXPECT_EQ(dropped.header.status, MessageStatus::Error);
    XdrDecoder d(dropped.payload);
    EXPECT_EQ(decodeRemoteError(d).code, VIR_ERR_INTERNAL_ERROR);
    // Exactly one reply each: the next packet answers the next call.
    EXPECT_EQ(roundTrip(fd.get(), r, kProcConnectGetType, 53).header.serial, 53u);
}

TEST_F(ServerTest, TooManyDeferredCallsPauseTheClient)
{
    std::mutex m;
    std::vector<std::shared_ptr<DeferredReply>> pending;
    auto pendingCount = [&] {
        std::lock_guard lock(m);
        return pending.size();
    };
    auto waitFor = [&](std::size_t n) {
        for (int i = 0; i < 1000 && pendingCount() != n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return pendingCount() == n;
    };
    auto answerAll = [&] {
        std::lock_guard lock(m);
        for (auto& p : pending)
            p->succeed({});
        pending.clear();
    };
    loop_.post([&] {
        dispatcher_.add(kRemoteProgram, 9, {[&](CallContext& ctx, XdrDecoder&, XdrEncoder&) {
                                                std::lock_guard lock(m);
                                                pending.push_back(ctx.defer());
                                            }, false});
    });
    UniqueFd fd = connect();
    PacketReader r;
    openConnection(fd.get(), r);
    for (std::uint32_t i = 0; i < 6; ++i)
        send(fd.get(), callHeader(9, 100 + i));
    send(fd.get(), callHeader(kProcConnectGetType, 200));
    ASSERT_TRUE(waitFor(4));   // the limit: the rest waits unread
    pollfd pfd{fd.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&pfd, 1, 200), 0) << "GET_TYPE was answered while the client was paused";
    EXPECT_EQ(pendingCount(), 4u);
    answerAll();
    // The four answers free room: the last two slow calls and GET_TYPE get read.
    std::set<std::uint32_t> serials;
    for (int i = 0; i < 5; ++i)
        serials.insert(receive(fd.get(), r)->header.serial);
    EXPECT_EQ(serials, (std::set<std::uint32_t>{100, 101, 102, 103, 200}));
    ASSERT_TRUE(waitFor(2));
    answerAll();
    serials.clear();
    serials.insert(receive(fd.get(), r)->header.serial);
    serials.insert(receive(fd.get(), r)->header.serial);
    EXPECT_EQ(serials, (std::set<std::uint32_t>{104, 105}));
}

TEST_F(ServerTest, HandlerMayEmitEventsBeforeItsReply)
{
    // What DOMAIN_CREATE will do: the STARTED event goes out, then the reply.
    DomainRef dom{"vm2", {}, 4};
    loop_.post([&] {
        dispatcher_.add(kRemoteProgram, 9, {[&](CallContext&, XdrDecoder&, XdrEncoder&) {
                                                server_->emitDomainLifecycle(dom, VIR_DOMAIN_EVENT_STARTED, 0);
                                            }, false});
    });
    UniqueFd fd = connect();
    PacketReader r;
    openConnection(fd.get(), r);
    XdrEncoder reg;
    reg.putI32(VIR_DOMAIN_EVENT_ID_LIFECYCLE);
    reg.putBool(false);
    ASSERT_EQ(roundTrip(fd.get(), r, kProcConnectDomainEventCallbackRegisterAny, 2, reg.bytes()).header.status,
              MessageStatus::Ok);
    send(fd.get(), callHeader(9, 3));
    auto first = receive(fd.get(), r);
    auto second = receive(fd.get(), r);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->header.type, MessageType::Message);
    EXPECT_EQ(first->header.proc, kProcDomainEventCallbackLifecycle);
    EXPECT_EQ(second->header.type, MessageType::Reply);
    EXPECT_EQ(second->header.serial, 3u);
    // Deregistered: no more events.
    XdrEncoder id;
    id.putI32(0);
    ASSERT_EQ(roundTrip(fd.get(), r, kProcConnectDomainEventCallbackDeregisterAny, 4, id.bytes()).header.status,
              MessageStatus::Ok);
    send(fd.get(), callHeader(9, 5));
    auto reply = receive(fd.get(), r);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->header.type, MessageType::Reply);
    EXPECT_EQ(reply->header.serial, 5u);
}

namespace {

struct StreamLog {
    std::string data;
    int finished = 0;
    int aborted = 0;
};

}  // namespace

TEST_F(ServerTest, ConsoleStyleStreamEchoesFinishesAndAborts)
{
    // An echo "console" on DOMAIN_OPEN_CONSOLE (201): what the client types comes back.
    StreamLog log;
    std::shared_ptr<Stream> live;
    loop_.post([&] {
        dispatcher_.add(kRemoteProgram, 201, {[&](CallContext& ctx, XdrDecoder&, XdrEncoder&) {
                                                  auto s = ctx.openStream();
                                                  Stream* raw = s.get();
                                                  s->setHandlers({
                                                      [&log, raw](std::span<const std::uint8_t> d) {
                                                          log.data.append(d.begin(), d.end());
                                                          raw->send(d);
                                                      },
                                                      [&log] { ++log.finished; },
                                                      [&log] { ++log.aborted; },
                                                  });
                                                  s->send(std::vector<std::uint8_t>{'>'});   // before the REPLY
                                                  live = s;
                                              }, false});
        dispatcher_.add(kRemoteProgram, 202, {[&](CallContext& ctx, XdrDecoder&, XdrEncoder&) {
                                                  auto s = ctx.openStream();
                                                  s->setHandlers({{}, {}, [&log] { ++log.aborted; }});
                                                  throw RpcError(VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN, "no console");
                                              }, false});
    });
    UniqueFd fd = connect();
    PacketReader r;
    openConnection(fd.get(), r);
    auto reply = roundTrip(fd.get(), r, 201, 8);
    ASSERT_EQ(reply.header.status, MessageStatus::Ok);
    auto prompt = receive(fd.get(), r);   // queued in the handler, sent after the REPLY
    ASSERT_TRUE(prompt);
    EXPECT_EQ(prompt->header.type, MessageType::Stream);
    EXPECT_EQ(prompt->header.status, MessageStatus::Continue);
    EXPECT_EQ(prompt->header.serial, 8u);
    EXPECT_EQ(prompt->payload, std::vector<std::uint8_t>{'>'});

    std::vector<std::uint8_t> hello{'h', 'e', 'l', 'l', 'o', '\r'};
    send(fd.get(), {kRemoteProgram, 1, 201, MessageType::Stream, 8, MessageStatus::Continue}, hello);
    auto echo = receive(fd.get(), r);
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->header.type, MessageType::Stream);
    EXPECT_EQ(echo->payload, hello);

    // Server-side EOF: an empty CONTINUE.
    loop_.post([&] { live->endOfData(); });
    auto eof = receive(fd.get(), r);
    ASSERT_TRUE(eof);
    EXPECT_EQ(eof->header.status, MessageStatus::Continue);
    EXPECT_TRUE(eof->payload.empty());

    // Client finishes (^]): acknowledged with OK; later packets of it are ignored.
    send(fd.get(), {kRemoteProgram, 1, 201, MessageType::Stream, 8, MessageStatus::Ok});
    auto ack = receive(fd.get(), r);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->header.type, MessageType::Stream);
    EXPECT_EQ(ack->header.status, MessageStatus::Ok);
    send(fd.get(), {kRemoteProgram, 1, 201, MessageType::Stream, 8, MessageStatus::Continue}, hello);

    // A second stream, aborted by the client (python st.abort()): acknowledged with OK.
    ASSERT_EQ(roundTrip(fd.get(), r, 201, 9).header.status, MessageStatus::Ok);
    ASSERT_TRUE(receive(fd.get(), r));   // its prompt
    send(fd.get(), {kRemoteProgram, 1, 201, MessageType::Stream, 9, MessageStatus::Error});
    auto abortAck = receive(fd.get(), r);
    ASSERT_TRUE(abortAck);
    EXPECT_EQ(abortAck->header.serial, 9u);
    EXPECT_EQ(abortAck->header.status, MessageStatus::Ok);

    // A failed open: error REPLY, no stream packets, the stream is discarded.
    auto failed = roundTrip(fd.get(), r, 202, 10);
    EXPECT_EQ(failed.header.status, MessageStatus::Error);
    // The next thing on the wire answers the next call: nothing leaked from above.
    EXPECT_EQ(roundTrip(fd.get(), r, kProcConnectGetType, 11).header.serial, 11u);

    // A third stream left open when the client disconnects: aborted on the server.
    ASSERT_EQ(roundTrip(fd.get(), r, 201, 12).header.status, MessageStatus::Ok);
    ASSERT_TRUE(receive(fd.get(), r));
    fd.reset();
    StreamLog seen;
    for (int i = 0; i < 200; ++i) {
        std::promise<StreamLog> p;
        loop_.post([&] { p.set_value(log); });
        seen = p.get_future().get();
        if (seen.aborted == 3)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(seen.data, "hello\r");
    EXPECT_EQ(seen.finished, 1);
    EXPECT_EQ(seen.aborted, 3);   // client abort, failed open, disconnect
}
