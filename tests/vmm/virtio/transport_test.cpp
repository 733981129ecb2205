// The virtio-pci transport driven like a guest driver would, over fake guest memory and
// without KVM: feature negotiation, queue set-up, doorbells, and DEVICE_NEEDS_RESET for
// a driver that hands over a bad chain. Also virtio-blk and the raw image lock.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "DiskImage.h"
#include "EventLoop.h"
#include "FakeDriver.h"
#include "RawImage.h"
#include "VirtioBlock.h"
#include "VirtioPciDevice.h"
#include "VirtioRng.h"

using namespace mica;
using namespace mica::virtio;
using mica::virtio::test::FakeQueue;

namespace {

constexpr uint64_t kBuf = 0x100000;

class Driver {
public:
    Driver(VirtioPciDevice& dev, FakeQueue& queue) : dev_(dev), queue_(queue) {}
    void w(uint64_t off, uint64_t v, size_t size)
    {
        uint8_t b[8];
        for (size_t i = 0; i < size; ++i)
            b[i] = static_cast<uint8_t>(v >> (8 * i));
        dev_.barWrite(0, off, {b, size});
    }
    uint64_t r(uint64_t off, size_t size)
    {
        uint8_t b[8] = {};
        dev_.barRead(0, off, {b, size});
        uint64_t v = 0;
        for (size_t i = 0; i < size; ++i)
            v |= uint64_t{b[i]} << (8 * i);
        return v;
    }
    // The Linux driver's sequence (virtio spec 3.1.1); `more` are queues 1, 2, ...
    void bringUp(uint64_t features = bit(kFeatureVersion1), std::vector<FakeQueue*> more = {})
    {
        w(0x14, 0, 1);
        w(0x14, kStatusAcknowledge | kStatusDriver, 1);
        w(0x08, 0, 4);
        w(0x0c, static_cast<uint32_t>(features), 4);
        w(0x08, 1, 4);
        w(0x0c, features >> 32, 4);
        w(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 1);
        ASSERT_TRUE(r(0x14, 1) & kStatusFeaturesOk);
        more.insert(more.begin(), &queue_);
        for (uint16_t i = 0; i < more.size(); ++i) {
            w(0x16, i, 2);
            w(0x18, more[i]->size, 2);
            w(0x20, more[i]->descAddr, 4);
            w(0x24, 0, 4);
            w(0x28, more[i]->availAddr, 4);
            w(0x2c, 0, 4);
            w(0x30, more[i]->usedAddr, 4);
            w(0x34, 0, 4);
            w(0x1c, 1, 2);
        }
        w(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk, 1);
    }
    void kick(uint16_t q) { w(VirtioPciDevice::kNotifyOffset + VirtioPciDevice::kNotifyMultiplier * q, q, 2); }

private:
    VirtioPciDevice& dev_;
    FakeQueue& queue_;
};

class TransportTest : public ::testing::Test {
protected:
    GuestMemory memory{16ull << 20, 0xc0000000, 0x100000000};
    FakeQueue queue{memory, 16};
};

TEST_F(TransportTest, RngFillsABuffer)
{
    VirtioPciDevice dev(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    EXPECT_EQ(dev.config().read16(2), 0x1044);  // 0x1040 + type 4
    Driver d(dev, queue);
    EXPECT_EQ(d.r(0x12, 2), 1u);  // num_queues
    d.bringUp();
    EXPECT_TRUE(dev.status() & kStatusDriverOk);
    queue.setDescriptor(0, kBuf, 64, kDescWrite, 0);
    queue.offer(0);
    d.kick(0);
    EXPECT_EQ(queue.usedIdx(), 1);
    EXPECT_EQ(queue.usedLen(0), 64u);
}

TEST_F(TransportTest, FeaturesOkRefusedWithoutVersion1)
{
    VirtioPciDevice dev(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    Driver d(dev, queue);
    d.w(0x14, kStatusAcknowledge | kStatusDriver, 1);
    d.w(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 1);
    EXPECT_FALSE(d.r(0x14, 1) & kStatusFeaturesOk);
}

TEST_F(TransportTest, BadChainNeedsResetNotACrash)
{
    VirtioPciDevice dev(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    Driver d(dev, queue);
    d.bringUp();
    queue.setDescriptor(0, kBuf, 64, kDescWrite | kDescNext, 0);  // loops on itself
    queue.offer(0);
    d.kick(0);
    EXPECT_TRUE(d.r(0x14, 1) & kStatusNeedsReset);
    EXPECT_EQ(queue.usedIdx(), 0);
    EXPECT_EQ(d.r(VirtioPciDevice::kIsrOffset, 1) & 2, 2u);  // config change
    // Writing 0 resets it; the driver can start over with fresh rings.
    queue.clear();
    d.bringUp();
    EXPECT_FALSE(d.r(0x14, 1) & kStatusNeedsReset);
    queue.setDescriptor(1, kBuf, 8, kDescWrite, 0);
    queue.offer(1);
    d.kick(0);
    EXPECT_EQ(queue.usedIdx(), 1);
}

TEST_F(TransportTest, RingsOutsideMemoryNeedReset)
{
    VirtioPciDevice dev(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    Driver d(dev, queue);
    d.w(0x14, kStatusAcknowledge | kStatusDriver, 1);
    d.w(0x08, 1, 4);
    d.w(0x0c, 1, 4);
    d.w(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk, 1);
    d.w(0x30, 0xfffff000, 4);  // used ring past RAM
    d.w(0x34, 0x7, 4);
    d.w(0x1c, 1, 2);
    d.w(0x14, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk, 1);
    EXPECT_TRUE(d.r(0x14, 1) & kStatusNeedsReset);
}

struct TempFile {
    std::string path;
    explicit TempFile(size_t size)
    {
        char name[] = "/tmp/mica-blk-XXXXXX";
        int fd = ::mkstemp(name);
        path = name;
        if (fd >= 0) {
            [[maybe_unused]] int ignored = ::ftruncate(fd, static_cast<off_t>(size));
            ::close(fd);
        }
    }
    ~TempFile() { ::unlink(path.c_str()); }
};

TEST_F(TransportTest, BlockWriteThenReadAndGetId)
{
    TempFile file(1 << 20);
    auto image = std::make_unique<block::RawImage>(file.path, false, false);
    VirtioPciDevice dev(std::make_shared<VirtioBlock>(std::move(image), VirtioBlockOptions{"vda", "serial-1", 1}), memory,
                        nullptr, nullptr, nullptr);
    uint8_t cap[8];
    dev.barRead(0, VirtioPciDevice::kDeviceOffset, cap);
    EXPECT_EQ(cap[0] | cap[1] << 8, 2048);  // 1 MiB in sectors
    Driver d(dev, queue);
    d.bringUp();

    auto request = [&](uint16_t head, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool write) {
        uint8_t header[16] = {};
        std::memcpy(header, &type, 4);
        std::memcpy(header + 8, &sector, 8);
        uint64_t at = kBuf + head * 0x10000ull;
        memory.write(at, header);
        queue.setDescriptor(head, at, 16, kDescNext, head + 1);
        queue.setDescriptor(head + 1, data, len, kDescNext | (write ? 0 : kDescWrite), head + 2);
        queue.setDescriptor(head + 2, at + 0x100, 1, kDescWrite, 0);
        queue.offer(head);
        d.kick(0);
        return memory.slice(at + 0x100, 1)[0];
    };
    std::vector<uint8_t> pattern(1024);
    for (size_t i = 0; i < pattern.size(); ++i)
        pattern[i] = static_cast<uint8_t>(i * 7);
    memory.write(0x400000, pattern);
    EXPECT_EQ(request(0, 1, 3, 0x400000, 1024, true), 0);   // OUT at sector 3
    EXPECT_EQ(request(3, 0, 3, 0x500000, 1024, false), 0);  // IN
    auto back = memory.slice(0x500000, 1024);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), pattern.begin()));
    std::ifstream in(file.path, std::ios::binary);
    in.seekg(3 * 512);
    std::vector<char> disk(1024);
    in.read(disk.data(), 1024);
    EXPECT_EQ(std::memcmp(disk.data(), pattern.data(), 1024), 0);
    EXPECT_EQ(request(6, 8, 0, 0x600000, 20, false), 0);   // GET_ID
    EXPECT_EQ(std::string(reinterpret_cast<char*>(memory.slice(0x600000, 8).data()), 8), "serial-1");
    EXPECT_EQ(request(9, 0, 2047, 0x500000, 1024, false), 1);  // past the end: IOERR
    EXPECT_EQ(request(12, 99, 0, 0x500000, 16, false), 2);     // unknown: UNSUPP
    EXPECT_EQ(queue.usedIdx(), 5);
}

// A disk on an event loop, served by the engine the test is for.
class BlockEngineTest : public TransportTest, public ::testing::WithParamInterface<block::IoEngineKind> {
protected:
    std::shared_ptr<VirtioBlock> disk(const std::string& path, EventLoop& loop)
    {
        VirtioBlockOptions options{"vda", "", 1};
        options.ioEngine = GetParam();
        auto blk = std::make_shared<VirtioBlock>(std::make_unique<block::RawImage>(path, false, false), options, &loop,
                                                 "_disk0");
        EXPECT_STREQ(blk->ioEngine(), block::ioEngineName(GetParam()));
        return blk;
    }
    // A 4 KiB read or write in the descriptors of `slot` % 5, its header and status at
    // kBuf + slot * 4 KiB (status 0xff until the device writes it).
    void offer(uint16_t slot, uint32_t type, uint64_t sector, uint64_t data, bool write)
    {
        uint16_t head = static_cast<uint16_t>(slot % 5 * 3);  // the second five reuse the first five's
        uint8_t header[16] = {};
        std::memcpy(header, &type, 4);
        std::memcpy(header + 8, &sector, 8);
        uint64_t at = kBuf + slot * 0x1000ull;
        memory.write(at, header);
        memory.write(at + 0x100, std::vector<uint8_t>{0xff});
        queue.setDescriptor(head, at, 16, kDescNext, static_cast<uint16_t>(head + 1));
        queue.setDescriptor(static_cast<uint16_t>(head + 1), data, 4096, kDescNext | (write ? 0 : kDescWrite),
                            static_cast<uint16_t>(head + 2));
        queue.setDescriptor(static_cast<uint16_t>(head + 2), at + 0x100, 1, kDescWrite, 0);
        queue.offer(head);
    }
};

TEST_P(BlockEngineTest, RequestsRunOnTheEngineAndAllCompleteBeforeAPause)
{
    // On an event loop the disk's requests go to its engine: five writes and then five
    // reads in flight at once, each completed (in whatever order) with a status, and
    // all of them in the used ring once the device has paused.
    TempFile file(1 << 20);
    EventLoop loop;
    std::thread loopThread([&] { loop.run(); });
    {
        auto blk = disk(file.path, loop);
        VirtioPciDevice dev(blk, memory, nullptr, nullptr, nullptr);
        Driver d(dev, queue);
        d.bringUp();
        for (uint16_t i = 0; i < 5; ++i) {
            memory.write(0x400000 + i * 4096ull, std::vector<uint8_t>(4096, static_cast<uint8_t>(i + 1)));
            offer(i, 1, i * 8, 0x400000 + i * 4096ull, true);
        }
        d.kick(0);
        dev.pause();
        EXPECT_EQ(queue.usedIdx(), 5);
        dev.resume();
        for (uint16_t i = 0; i < 5; ++i)
            offer(static_cast<uint16_t>(5 + i), 0, i * 8, 0x500000 + i * 4096ull, false);
        d.kick(0);
        dev.pause();
        EXPECT_EQ(queue.usedIdx(), 10);
        for (uint16_t i = 0; i < 10; ++i)
            EXPECT_EQ(memory.slice(kBuf + i * 0x1000ull + 0x100, 1)[0], 0) << "request " << i;
        for (uint16_t i = 0; i < 5; ++i)
            EXPECT_EQ(memory.slice(0x500000 + i * 4096ull, 4096)[4095], i + 1) << "read " << i;
        dev.resume();
    }
    loop.stop();
    loopThread.join();
}

TEST_P(BlockEngineTest, ResetWithRequestsInFlightThenServeAgain)
{
    // The driver resets the device while its writes are in flight: the reset returns
    // with none left, none completes into the forgotten queue afterwards, and the device
    // brought up again serves a read of what they wrote.
    TempFile file(1 << 20);
    EventLoop loop;
    std::thread loopThread([&] { loop.run(); });
    uint16_t usedAtReset;
    {
        auto blk = disk(file.path, loop);
        VirtioPciDevice dev(blk, memory, nullptr, nullptr, nullptr);
        Driver d(dev, queue);
        d.bringUp();
        for (uint16_t i = 0; i < 5; ++i) {
            memory.write(0x400000 + i * 4096ull, std::vector<uint8_t>(4096, static_cast<uint8_t>(0x30 + i)));
            offer(i, 1, i * 8, 0x400000 + i * 4096ull, true);
        }
        d.kick(0);
        d.w(0x14, 0, 1);
        usedAtReset = queue.usedIdx();
        EXPECT_LE(usedAtReset, 5);
        dev.pause();  // the loop's completions, if any were left, would have run by now
        EXPECT_EQ(queue.usedIdx(), usedAtReset);
        dev.resume();
        queue.clear();
        d.bringUp();
        offer(5, 0, 4 * 8, 0x500000, false);
        d.kick(0);
        dev.pause();
        EXPECT_EQ(queue.usedIdx(), 1);
        EXPECT_EQ(memory.slice(kBuf + 5 * 0x1000ull + 0x100, 1)[0], 0);
        EXPECT_EQ(memory.slice(0x500000, 4096)[4095], 0x34);  // the reset let the writes end
        dev.resume();
    }
    loop.stop();
    loopThread.join();
}

TEST_F(TransportTest, PauseWritesAQcow2DisksMetadataBack)
{
    // The guest writes and never flushes; once the device is paused (as for a VM
    // snapshot) the image's file is whole: qemu-img finds it clean, holding the writes.
    char dirName[] = "/tmp/mica-blk-qcow2-XXXXXX";
    ASSERT_TRUE(::mkdtemp(dirName));
    std::string dir = dirName, image = dir + "/disk.qcow2";
    auto sh = [](const std::string& command) { return std::system(("{ " + command + "; } >&2").c_str()); };
    ASSERT_EQ(0, sh("qemu-img create -q -f qcow2 " + image + " 1M"));
    EventLoop loop;
    std::thread loopThread([&] { loop.run(); });
    {
        block::ImageOptions imageOptions;
        imageOptions.type = block::ImageType::Qcow2;
        VirtioBlockOptions options{"vda", "", 1};
        options.ioEngine = block::IoEngineKind::Threads;
        auto blk = std::make_shared<VirtioBlock>(block::openImage(image, imageOptions), options, &loop, "_disk0");
        VirtioPciDevice dev(blk, memory, nullptr, nullptr, nullptr);
        Driver d(dev, queue);
        d.bringUp();
        for (uint16_t i = 0; i < 5; ++i) {
            memory.write(0x400000 + i * 4096ull, std::vector<uint8_t>(4096, static_cast<uint8_t>(0x61 + i)));
            uint16_t head = static_cast<uint16_t>(i * 3);
            uint32_t type = 1;
            uint64_t sector = i * 256ull;  // 128 KiB apart: a cluster each
            uint8_t header[16] = {};
            std::memcpy(header, &type, 4);
            std::memcpy(header + 8, &sector, 8);
            uint64_t at = kBuf + i * 0x1000ull;
            memory.write(at, header);
            queue.setDescriptor(head, at, 16, kDescNext, static_cast<uint16_t>(head + 1));
            queue.setDescriptor(static_cast<uint16_t>(head + 1), 0x400000 + i * 4096ull, 4096, kDescNext,
                                static_cast<uint16_t>(head + 2));
            queue.setDescriptor(static_cast<uint16_t>(head + 2), at + 0x100, 1, kDescWrite, 0);
            queue.offer(head);
        }
        d.kick(0);
        dev.pause();
        EXPECT_EQ(queue.usedIdx(), 5);
        ASSERT_EQ(0, sh("cp " + image + " " + dir + "/copy.qcow2"));
        EXPECT_EQ(0, sh("qemu-img check -q " + dir + "/copy.qcow2"));
        for (int i = 0; i < 5; ++i) {
            char pattern[8];
            std::snprintf(pattern, sizeof pattern, "0x%02x", 0x61 + i);
            // qemu-io exits 1 when the pattern does not match.
            EXPECT_EQ(0, sh("qemu-io -f qcow2 -r -c 'read -q -P " + std::string(pattern) + " " +
                            std::to_string(i * 131072) + " 4096' " + dir + "/copy.qcow2"))
                << "write " << i;
        }
        dev.resume();
    }
    loop.stop();
    loopThread.join();
    sh("rm -rf " + dir);
}

INSTANTIATE_TEST_SUITE_P(Engines, BlockEngineTest,
                         ::testing::Values(block::IoEngineKind::IoUring, block::IoEngineKind::Threads),
                         [](const auto& info) { return std::string(info.param == block::IoEngineKind::IoUring ? "IoUring" : "Threads"); });

TEST(RawImage, LockKeepsASecondWriterOut)
{
    TempFile file(4096);
    block::RawImage first(file.path, false, false);
    try {
        block::RawImage second(file.path, false, false);
        FAIL() << "a second writable open succeeded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("locked by another process"), std::string::npos) << e.what();
    }
    EXPECT_THROW(block::RawImage(file.path, true, false), Error);  // readers too, while written
}

TEST(RawImage, ReadOnlyImagesShare)
{
    TempFile file(4096);
    block::RawImage a(file.path, true, false);
    block::RawImage b(file.path, true, false);
    EXPECT_THROW(block::RawImage(file.path, false, false), Error);
    EXPECT_EQ(a.size(), 4096u);
}

TEST(RawImage, SharedWritableImagesShareOnlyWithEachOther)
{
    TempFile file(4096);
    block::RawImage a(file.path, false, false, true);
    block::RawImage b(file.path, false, false, true);   // both said shared: both write
    block::RawImage reader(file.path, true, false);
    EXPECT_THROW(block::RawImage(file.path, false, false), Error);  // an exclusive writer may not
    EXPECT_FALSE(a.readOnly());
}

TEST(RawImage, MissingFileNamesThePath)
{
    try {
        block::RawImage("/nonexistent/x.raw", false, false);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "/nonexistent/x.raw: No such file or directory");
    }
}

}  // namespace

// Records when the transport quiesces it and whether its queue still existed then: a
// device callback running at that moment (a TAP or socket on an I/O thread) uses it.
class QuiesceProbe : public VirtioDevice {
public:
    uint16_t deviceType() const override { return kTypeRng; }
    uint32_t pciClass() const override { return 0xff0000; }
    uint64_t deviceFeatures() const override { return 0; }
    uint16_t queueCount() const override { return 1; }
    void readConfig(uint64_t, std::span<uint8_t>) override {}
    void processQueue(uint16_t) override {}
    std::string name() const override { return "probe"; }
    void quiesce() override
    {
        quiesced = true;
        queueThere = host_ && host_->queue(0);
    }
    bool quiesced = false, queueThere = false;
};

TEST_F(TransportTest, DeviceQuiescedWhileItsQueuesExist)
{
    auto probe = std::make_shared<QuiesceProbe>();  // shared: it outlives the transport
    {
        VirtioPciDevice dev(probe, memory, nullptr, nullptr, nullptr);
        Driver d(dev, queue);
        d.bringUp();
        EXPECT_FALSE(probe->quiesced);
    }
    EXPECT_TRUE(probe->quiesced);
    EXPECT_TRUE(probe->queueThere);
}

// The component contract on the transport: a device's state saved, restored into a new
// transport over the same guest memory, saved again, is the same; the restored device
// goes on from where the first stopped (the next request lands in used slot 1).
TEST_F(TransportTest, SaveRestoreRoundTrip)
{
    VirtioPciDevice first(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    Driver d(first, queue);
    d.bringUp(bit(kFeatureVersion1) | bit(kFeatureEventIdx));
    queue.setDescriptor(0, kBuf, 64, kDescWrite, 0);
    queue.offer(0);
    d.kick(0);
    ASSERT_EQ(queue.usedIdx(), 1);
    first.pause();
    auto saved = first.save();

    VirtioPciDevice second(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    second.restore(nlohmann::json::parse(saved.dump()));
    EXPECT_EQ(second.save(), saved);
    EXPECT_TRUE(second.status() & kStatusDriverOk);
    second.resume();
    Driver d2(second, queue);
    queue.setDescriptor(1, kBuf, 32, kDescWrite, 0);
    queue.offer(1);
    d2.kick(0);
    EXPECT_EQ(queue.usedIdx(), 2);
    EXPECT_EQ(queue.usedLen(1), 32u);
}

TEST_F(TransportTest, RestoreRefusesAnotherDeviceOrDamage)
{
    VirtioPciDevice rng(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
    auto saved = rng.save();
    // Damaged: a field missing, a wrong type, a queue count that is not the device's.
    for (const char* key : {"transport", "config", "msix"}) {
        auto broken = saved;
        broken.erase(key);
        VirtioPciDevice dev(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
        EXPECT_THROW(dev.restore(broken), StateError) << key;
    }
    auto wrongType = saved;
    wrongType["transport"]["status"] = "running";
    auto tooManyQueues = saved;
    tooManyQueues["transport"]["queues"].push_back(tooManyQueues["transport"]["queues"][0]);
    auto badBase64 = saved;
    badBase64["config"] = "not base64!";
    for (const auto& broken : {wrongType, tooManyQueues, badBase64}) {
        VirtioPciDevice dev(std::make_shared<VirtioRng>("/dev/urandom"), memory, nullptr, nullptr, nullptr);
        EXPECT_THROW(dev.restore(broken), StateError) << broken.dump();
    }
}
