// virtio-vsock and virtio-balloon behind the transport, over fake guest memory and
// without KVM or an event loop.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "FakeDriver.h"
#include "VirtioBalloon.h"
#include "VirtioPciDevice.h"
#include "VirtioVsock.h"

using namespace mica;
using namespace mica::virtio;
using mica::virtio::test::FakeQueue;

namespace {

void kick(VirtioPciDevice& dev, uint16_t q)
{
    uint8_t b[2] = {static_cast<uint8_t>(q), 0};
    dev.barWrite(0, VirtioPciDevice::kNotifyOffset + VirtioPciDevice::kNotifyMultiplier * q, b);
}

void w(VirtioPciDevice& dev, uint64_t off, uint64_t v, size_t size)
{
    uint8_t b[8];
    for (size_t i = 0; i < size; ++i)
        b[i] = static_cast<uint8_t>(v >> (8 * i));
    dev.barWrite(0, off, {b, size});
}

void bringUp(VirtioPciDevice& dev, std::vector<FakeQueue*> queues, uint64_t features)
{
    w(dev, 0x14, kStatusAcknowledge | kStatusDriver, 1);
    w(dev, 0x08, 0, 4);
    w(dev, 0x0c, static_cast<uint32_t>(features), 4);
    w(dev, 0x08, 1, 4);
    w(dev, 0x0c, features >> 32, 4);
    w(dev, 0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 1);
    for (uint16_t i = 0; i < queues.size(); ++i) {
        w(dev, 0x16, i, 2);
        w(dev, 0x18, queues[i]->size, 2);
        w(dev, 0x20, queues[i]->descAddr, 4);
        w(dev, 0x28, queues[i]->availAddr, 4);
        w(dev, 0x30, queues[i]->usedAddr, 4);
        w(dev, 0x1c, 1, 2);
    }
    w(dev, 0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk, 1);
}

class VsockTest : public ::testing::Test {
protected:
    GuestMemory memory{16ull << 20, 0xc0000000, 0x100000000};
    FakeQueue rx{memory, 8, 0x10000}, tx{memory, 8, 0x20000}, event{memory, 8, 0x30000};
    std::string dir = [] {
        char name[] = "/tmp/mica-vsock-XXXXXX";
        return std::string(::mkdtemp(name));
    }();
    ~VsockTest() override
    {
        ::unlink((dir + "/v.sock_5000").c_str());
        ::unlink((dir + "/v.sock").c_str());
        ::rmdir(dir.c_str());
    }
    void send(uint16_t head, VsockPacketHeader h, const std::string& payload = {})
    {
        uint64_t at = 0x100000 + head * 0x1000ull;
        h.len = static_cast<uint32_t>(payload.size());
        memory.write(at, {reinterpret_cast<uint8_t*>(&h), sizeof h});
        memory.write(at + 64, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()});
        tx.setDescriptor(head, at, sizeof h, payload.empty() ? 0 : kDescNext, static_cast<uint16_t>(head + 1));
        if (!payload.empty())
            tx.setDescriptor(static_cast<uint16_t>(head + 1), at + 64, static_cast<uint32_t>(payload.size()), 0, 0);
        tx.offer(head);
    }
    VsockPacketHeader received(uint16_t i)
    {
        VsockPacketHeader h;
        std::memcpy(&h, memory.slice(0x200000 + 0x1000ull * (rx.usedId(i)), sizeof h).data(), sizeof h);
        return h;
    }
};

TEST_F(VsockTest, GuestConnectsToAHostSocketAndSends)
{
    // The host program listening on PATH_5000.
    int server = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir + "/v.sock_5000";
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(server, 1), 0);

    VirtioPciDevice dev(std::make_shared<VirtioVsock>(3, dir + "/v.sock", nullptr), memory, nullptr, nullptr, nullptr);
    uint8_t cid[8];
    dev.barRead(0, VirtioPciDevice::kDeviceOffset, cid);
    EXPECT_EQ(cid[0], 3);
    bringUp(dev, {&rx, &tx, &event}, bit(kFeatureVersion1));
    for (uint16_t i = 0; i < 4; ++i) {
        rx.setDescriptor(i, 0x200000 + 0x1000ull * i, 4096, kDescWrite, 0);
        rx.offer(i);
    }
    VsockPacketHeader request{};
    request.srcCid = 3;
    request.dstCid = 2;
    request.srcPort = 1234;
    request.dstPort = 5000;
    request.type = 1;
    request.op = 1;  // REQUEST
    request.bufAlloc = 65536;
    send(0, request);
    kick(dev, 1);
    ASSERT_EQ(rx.usedIdx(), 1);
    auto response = received(0);
    EXPECT_EQ(response.op, 2);  // RESPONSE
    EXPECT_EQ(response.srcPort, 5000u);
    EXPECT_EQ(response.dstPort, 1234u);
    EXPECT_EQ(response.dstCid, 3u);

    VsockPacketHeader rw = request;
    rw.op = 5;  // RW
    send(2, rw, "hello host");
    kick(dev, 1);
    int client = ::accept(server, nullptr, nullptr);
    ASSERT_GE(client, 0);
    char buffer[32] = {};
    EXPECT_EQ(::read(client, buffer, sizeof buffer), 10);
    EXPECT_STREQ(buffer, "hello host");

    // A connection to a port nobody listens on is reset.
    VsockPacketHeader nobody = request;
    nobody.dstPort = 5001;
    send(4, nobody);
    kick(dev, 1);
    ASSERT_EQ(rx.usedIdx(), 2);
    EXPECT_EQ(received(1).op, 3);  // RST
    ::close(client);
    ::close(server);
}

TEST_F(VsockTest, PacketFromAnotherCidIsReset)
{
    VirtioPciDevice dev(std::make_shared<VirtioVsock>(3, dir + "/v.sock", nullptr), memory, nullptr, nullptr, nullptr);
    bringUp(dev, {&rx, &tx, &event}, bit(kFeatureVersion1));
    rx.setDescriptor(0, 0x200000, 4096, kDescWrite, 0);
    rx.offer(0);
    VsockPacketHeader spoofed{};
    spoofed.srcCid = 99;
    spoofed.dstCid = 2;
    spoofed.type = 1;
    spoofed.op = 1;
    send(0, spoofed);
    kick(dev, 1);
    ASSERT_EQ(rx.usedIdx(), 1);
    EXPECT_EQ(received(0).op, 3);
}

TEST(Balloon, InflateGivesPagesBackAndTargetIsInConfig)
{
    GuestMemory memory{16ull << 20, 0xc0000000, 0x100000000};
    FakeQueue inflate{memory, 8, 0x10000}, deflate{memory, 8, 0x20000}, stats{memory, 8, 0x30000};
    auto balloon = std::make_shared<VirtioBalloon>(memory, 8 << 20, false, false);
    VirtioPciDevice dev(balloon, memory, nullptr, nullptr, nullptr);
    uint8_t config[8];
    dev.barRead(0, VirtioPciDevice::kDeviceOffset, config);
    EXPECT_EQ(config[0] | config[1] << 8, 2048);  // 8 MiB in 4 KiB pages
    bringUp(dev, {&inflate, &deflate, &stats}, bit(kFeatureVersion1) | bit(1));

    // The guest dirties a page, then hands it to the balloon by PFN.
    uint64_t page = 0x800000;
    std::vector<uint8_t> ones(4096, 0xa5);
    memory.write(page, ones);
    uint32_t pfn = static_cast<uint32_t>(page / 4096);
    memory.write(0x100000, {reinterpret_cast<uint8_t*>(&pfn), 4});
    inflate.setDescriptor(0, 0x100000, 4, 0, 0);
    inflate.offer(0);
    kick(dev, 0);
    EXPECT_EQ(inflate.usedIdx(), 1);
    EXPECT_EQ(memory.slice(page, 1)[0], 0);  // given back to the host: reads as zero now

    // A PFN outside RAM is the driver's bug: the device needs a reset, we do not crash.
    uint32_t bad = 0xfffff;
    memory.write(0x100000, {reinterpret_cast<uint8_t*>(&bad), 4});
    inflate.offer(0);
    kick(dev, 0);
    uint8_t status;
    dev.barRead(0, 0x14, {&status, 1});
    EXPECT_TRUE(status & kStatusNeedsReset);

    balloon->setTarget(0);
    dev.barRead(0, VirtioPciDevice::kDeviceOffset, config);
    EXPECT_EQ(config[0], 0);
}

}  // namespace
