// Serial output is never lost to a slow reader: what a pty or socket cannot take yet waits
// in the CharBackend, and the 8250 holds its guest back meanwhile (LSR.THRE clear, the
// "transmitter empty" interrupt when the backlog has gone out). Output nobody can read
// (no one holding the pty, no socket client) is discarded instead of stalling the guest.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CharBackend.h"
#include "EventLoop.h"
#include "Serial8250.h"
#include "UniqueFd.h"

using namespace mica;
using Kind = CharBackendConfig::Kind;

namespace {

struct LoopThread {
    EventLoop loop;
    std::thread thread{[this] { loop.run(); }};
    ~LoopThread()
    {
        loop.stop();
        thread.join();
    }
};

// Bytes no two neighbours of which are equal, so a lost or doubled byte shows.
std::vector<uint8_t> pattern(size_t n, uint8_t base = 0, uint8_t period = 251)
{
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<uint8_t>(base + (i * 7) % period);
    return v;
}

// Waits (up to 10 s, so a broken test fails instead of hanging) for `done`.
bool eventually(const std::function<bool()>& done)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// Reads `n` bytes from a non-blocking fd, `chunk` at a time with `pause` between reads (a
// slow reader); gives up after 10 s without a byte.
std::vector<uint8_t> readBytes(int fd, size_t n, size_t chunk = 65536,
                               std::chrono::microseconds pause = std::chrono::microseconds(0))
{
    std::vector<uint8_t> got;
    std::vector<uint8_t> buffer(chunk);
    while (got.size() < n) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1)
            break;
        ssize_t r = ::read(fd, buffer.data(), std::min(chunk, n - got.size()));
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r <= 0)
            break;
        got.insert(got.end(), buffer.begin(), buffer.begin() + r);
        std::this_thread::sleep_for(pause);
    }
    return got;
}

// Reads and throws away what an fd holds now (what the pty kept from before its reader).
void discardWaiting(int fd)
{
    uint8_t buffer[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 100) == 1 && ::read(fd, buffer, sizeof buffer) > 0) {
    }
}

UniqueFd openPty(const std::string& path)
{
    return UniqueFd(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
}

struct SocketDir {
    std::string dir;
    SocketDir()
    {
        char name[] = "/tmp/mica-serial-test.XXXXXX";
        dir = ::mkdtemp(name);
    }
    ~SocketDir() { ::rmdir(dir.c_str()); }
    std::string path() const { return dir + "/serial.sock"; }
};

UniqueFd connectTo(const std::string& path)
{
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return {};
    return fd;
}

// An IRQ line the loop's thread and a test's threads may drive at once.
struct IrqLevel {
    std::atomic<bool> level{false};
    std::atomic<int> rises{0};
    IrqLine line()
    {
        return [this](bool l) {
            if (l && !level)
                ++rises;
            level = l;
        };
    }
};

uint8_t in(BusDevice& d, uint64_t offset)
{
    uint8_t v = 0;
    d.read(offset, {&v, 1});
    return v;
}

void out(BusDevice& d, uint64_t offset, uint8_t v)
{
    d.write(offset, {&v, 1});
}

constexpr uint8_t kThr = 0, kIer = 1, kIir = 2, kMcr = 4, kLsr = 5;
constexpr uint8_t kLsrThre = 0x20, kLsrTemt = 0x40;

// A UART whose output goes to a unix socket with one client.
struct SocketUart {
    SocketDir dir;
    LoopThread t;
    CharBackend backend{{Kind::Socket, dir.path()}, "test"};
    IrqLevel irq;
    Serial8250 uart{irq.line(), &backend};
    std::atomic<int> inputs{0};
    UniqueFd client;
    SocketUart()
    {
        backend.attach(t.loop, [&](std::span<const uint8_t>) { ++inputs; }, [&] { uart.transmitterReady(); });
        client = connectTo(dir.path());
    }
    // The client connected, and the backend accepted it: a byte it sends has arrived.
    bool connected()
    {
        return client && ::write(client.get(), "x", 1) == 1 && eventually([&] { return inputs > 0; });
    }
};

}  // namespace

TEST(CharBackend, PtyOutputWaitsForASlowReader)
{
    LoopThread t;
    CharBackend backend({Kind::Pty, {}}, "test");
    std::atomic<int> drained{0};
    std::vector<uint8_t> input;
    std::mutex inputMutex;
    backend.attach(
        t.loop,
        [&](std::span<const uint8_t> bytes) {
            std::lock_guard lock(inputMutex);
            input.insert(input.end(), bytes.begin(), bytes.end());
        },
        [&] { ++drained; });
    UniqueFd reader = openPty(backend.path());
    ASSERT_TRUE(reader);

    // Far more than the pty holds: the rest waits in the backend, nothing is dropped.
    auto data = pattern(512 * 1024);
    backend.write(data);
    EXPECT_TRUE(backend.busy());
    EXPECT_EQ(backend.dropped(), 0u);
    EXPECT_EQ(readBytes(reader.get(), data.size(), 4096, std::chrono::microseconds(100)), data);
    EXPECT_TRUE(eventually([&] { return !backend.busy() && drained > 0; }));
    EXPECT_EQ(backend.dropped(), 0u);

    // Input still reaches the device (the master is watched edge-triggered).
    ASSERT_EQ(::write(reader.get(), "hi", 2), 2);
    EXPECT_TRUE(eventually([&] {
        std::lock_guard lock(inputMutex);
        return input.size() == 2;
    }));
}

TEST(CharBackend, PtyOutputNobodyReadsIsDiscardedNotWaitedFor)
{
    LoopThread t;
    CharBackend backend({Kind::Pty, {}}, "test");
    backend.attach(t.loop, [](std::span<const uint8_t>) {});
    // Nobody holds the other end: what the pty cannot keep is lost, and the guest is not
    // held back (a domain whose console nobody watches must not stall).
    backend.write(pattern(512 * 1024));
    EXPECT_FALSE(backend.busy());
    EXPECT_GT(backend.dropped(), 0u);

    // A reader comes: from now on nothing is lost.
    UniqueFd reader = openPty(backend.path());
    ASSERT_TRUE(reader);
    discardWaiting(reader.get());
    uint64_t droppedBefore = backend.dropped();
    auto data = pattern(256 * 1024, 3);
    backend.write(data);
    EXPECT_EQ(readBytes(reader.get(), data.size()), data);
    EXPECT_EQ(backend.dropped(), droppedBefore);

    // It leaves with output waiting: that output is discarded and the backend is free.
    backend.write(data);
    EXPECT_TRUE(backend.busy());
    reader.reset();
    EXPECT_TRUE(eventually([&] { return !backend.busy(); }));
}

TEST(CharBackend, SocketOutputWaitsForASlowClientAndIsDiscardedWhenItLeaves)
{
    std::signal(SIGPIPE, SIG_IGN);  // as mica-vmm does: a client gone is EPIPE, not death
    SocketDir dir;
    LoopThread t;
    CharBackend backend({Kind::Socket, dir.path()}, "test");
    std::atomic<int> drained{0}, inputs{0};
    backend.attach(t.loop, [&](std::span<const uint8_t>) { ++inputs; }, [&] { ++drained; });
    backend.write(pattern(1000));  // no client yet: nowhere to go
    EXPECT_FALSE(backend.busy());

    UniqueFd client = connectTo(dir.path());
    ASSERT_TRUE(client);
    ASSERT_EQ(::write(client.get(), "x", 1), 1);  // input arrives once the client is accepted
    ASSERT_TRUE(eventually([&] { return inputs > 0; }));

    // More than the socket buffers, less than the backend keeps (kMaxPending).
    auto data = pattern(CharBackend::kMaxPending);
    backend.write(data);
    EXPECT_TRUE(backend.busy());
    EXPECT_EQ(readBytes(client.get(), data.size(), 16384, std::chrono::microseconds(50)), data);
    EXPECT_EQ(backend.dropped(), 0u);
    EXPECT_TRUE(eventually([&] { return !backend.busy() && drained > 0; }));

    // The client leaves with output waiting: discarded, and the transmitter freed.
    uint64_t droppedBefore = backend.dropped();
    int drainedBefore = drained;
    backend.write(data);
    EXPECT_TRUE(backend.busy());
    client.reset();
    EXPECT_TRUE(eventually([&] { return !backend.busy() && drained > drainedBefore; }));
    EXPECT_GT(backend.dropped(), droppedBefore);
}

// The 8250 as Linux drives it: writes THR while LSR says THRE, otherwise waits for the
// "transmitter empty" interrupt.
TEST(Serial8250, HoldsTheGuestBackWhileTheReaderIsSlow)
{
    LoopThread t;
    CharBackend backend({Kind::Pty, {}}, "test");
    IrqLevel irq;
    Serial8250 uart(irq.line(), &backend);
    backend.attach(t.loop, [&](std::span<const uint8_t> b) { uart.receive(b); }, [&] { uart.transmitterReady(); });
    UniqueFd reader = openPty(backend.path());
    ASSERT_TRUE(reader);
    out(uart, kMcr, 0x08);  // OUT2
    out(uart, kIer, 0x02);  // THRE interrupt
    EXPECT_EQ(in(uart, kIir) & 0x0f, 0x02);

    // Until the pty is full, each byte leaves at once.
    std::vector<uint8_t> sent;
    for (uint8_t b : pattern(1024 * 1024)) {
        if (!(in(uart, kLsr) & kLsrThre))
            break;
        out(uart, kThr, b);
        sent.push_back(b);
    }
    ASSERT_LT(sent.size(), 1024u * 1024) << "the pty never filled up";
    // Full: THRE and TEMT clear, no interrupt pending, and none raised.
    EXPECT_EQ(in(uart, kLsr) & (kLsrThre | kLsrTemt), 0);
    EXPECT_EQ(in(uart, kIir) & 0x0f, 0x01);
    EXPECT_FALSE(irq.level);
    int rises = irq.rises;
    // A driver that writes anyway (Linux's console after polling LSR for 10 ms) loses nothing.
    for (uint8_t b : {uint8_t{'!'}, uint8_t{'?'}}) {
        out(uart, kThr, b);
        sent.push_back(b);
    }
    EXPECT_EQ(backend.dropped(), 0u);

    // The reader catches up: everything arrives in order, and the guest hears THRE.
    EXPECT_EQ(readBytes(reader.get(), sent.size(), 4096, std::chrono::microseconds(100)), sent);
    EXPECT_TRUE(eventually([&] { return irq.level.load(); }));
    EXPECT_GT(irq.rises, rises);
    EXPECT_EQ(in(uart, kIir) & 0x0f, 0x02);
    EXPECT_EQ(in(uart, kLsr) & (kLsrThre | kLsrTemt), kLsrThre | kLsrTemt);
    EXPECT_EQ(uart.counters().txBytes, sent.size());
}

// Two vCPUs write at once, each polling LSR as the guest's console does, to a socket
// whose client reads slowly: every byte arrives, each writer's in its order.
TEST(Serial8250, TwoVcpusWritingAtOnceToASlowReaderLoseNothing)
{
    SocketUart s;
    ASSERT_TRUE(s.connected());
    Serial8250& uart = s.uart;

    // Writer 0 sends values 0..127, writer 1 values 128..255, each in its own cycle.
    constexpr size_t kEach = 128 * 1024;
    std::atomic<bool> heldBack{false};
    auto vcpu = [&](uint8_t base) {
        for (uint8_t b : pattern(kEach, base, 127)) {
            while (!(in(uart, kLsr) & kLsrThre)) {
                heldBack = true;
                std::this_thread::yield();
            }
            out(uart, kThr, b);
        }
    };
    std::thread vcpu0(vcpu, 0), vcpu1(vcpu, 128);
    auto got = readBytes(s.client.get(), 2 * kEach, 4096, std::chrono::milliseconds(1));
    vcpu0.join();
    vcpu1.join();

    ASSERT_EQ(got.size(), 2 * kEach);
    std::vector<uint8_t> from0, from1;
    for (uint8_t b : got)
        (b < 128 ? from0 : from1).push_back(b);
    EXPECT_EQ(from0, pattern(kEach, 0, 127));
    EXPECT_EQ(from1, pattern(kEach, 128, 127));
    EXPECT_EQ(s.backend.dropped(), 0u);
    EXPECT_TRUE(heldBack) << "the reader was never slower than the writers";
}

// A burst from KVM's coalesced ring (BusDevice::writeEach): each byte is an access of its
// own (DLAB set, the last one is the divisor), and a FIFO load goes to the backend whole,
// in order, with one "transmitter empty" after it.
TEST(Serial8250, AFifoLoadFromTheCoalescedRingGoesOutInOrder)
{
    std::signal(SIGPIPE, SIG_IGN);
    SocketUart s;
    ASSERT_TRUE(s.connected());
    Serial8250& uart = s.uart;

    out(uart, 3, 0x80);  // DLAB: a burst to offset 0 sets the divisor's low byte
    std::vector<uint8_t> divisor = {0x0c, 0x06, 0x01};
    uart.writeEach(kThr, divisor);
    EXPECT_EQ(in(uart, 0), 0x01);
    out(uart, 3, 0x03);
    EXPECT_EQ(uart.counters().txBytes, 0u);

    out(uart, kMcr, 0x08);  // OUT2
    out(uart, kIer, 0x02);  // THRE interrupt
    EXPECT_EQ(in(uart, kIir) & 0x0f, 0x02);
    int rises = s.irq.rises;
    auto load = pattern(64);
    uart.writeEach(kThr, load);
    EXPECT_EQ(s.irq.rises, rises + 1);
    EXPECT_EQ(in(uart, kIir) & 0x0f, 0x02);
    EXPECT_EQ(readBytes(s.client.get(), load.size()), load);
    EXPECT_EQ(uart.counters().txBytes, load.size());
}
