// The disk I/O engines against a raw file: io_uring and the thread pool, the same
// checks for both (many requests in flight, completions through their eventfds, reads
// past the end of the file, errors, waitIdle and cancel), and openIoEngine's choice.
// io_uring must work where this runs: a kernel that refuses it fails the test.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <thread>

#include "Error.h"
#include "ImageFiles.h"
#include "IoEngine.h"
#include "IoUringEngine.h"
#include "RawImage.h"
#include "ThreadPoolEngine.h"

using namespace mica;
using namespace mica::block;
using mica::block::test::ScratchDir;

namespace {

constexpr size_t kBlock = 4096;

std::vector<uint8_t> pattern(unsigned seed, size_t size = kBlock)
{
    std::vector<uint8_t> data(size);
    for (size_t i = 0; i < size; ++i)
        data[i] = static_cast<uint8_t>(seed * 31 + i * 7 + (i >> 8));
    return data;
}

class IoEngineTest : public ::testing::TestWithParam<IoEngineKind> {
protected:
    void SetUp() override
    {
        ASSERT_EQ(ioUringRefusal(), "") << "this kernel refuses io_uring: the io_uring engine cannot be tested here";
        open(16u << 20, false);
    }
    void open(uint64_t size, bool readOnly, bool direct = false)
    {
        engine.reset();
        image.reset();
        if (!readOnly) {
            int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            ASSERT_GE(fd, 0);
            ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
            ::close(fd);
        }
        image = std::make_unique<RawImage>(path, readOnly, direct);
        engine = openIoEngine(GetParam(), *image, "test-io", 4, {});
        ASSERT_EQ(engine->kind(), GetParam());
    }
    // Waits on the engine's eventfds and completes until `count` callbacks have run.
    void completeUntil(const size_t& count, size_t want)
    {
        auto fds = engine->eventFds();
        while (count < want) {
            std::vector<pollfd> ready;
            for (int fd : fds)
                ready.push_back({fd, POLLIN, 0});
            ASSERT_GT(::poll(ready.data(), ready.size(), -1), 0);
            engine->complete();
        }
    }

    ScratchDir dir;
    std::string path = dir / "disk.raw";
    std::unique_ptr<RawImage> image;
    std::unique_ptr<IoEngine> engine;
};

// More requests than the ring has entries, all in flight at once: each completes, once,
// through the eventfd, and the file holds every write.
TEST_P(IoEngineTest, ManyInFlightCompleteThroughTheEventfd)
{
    constexpr unsigned kRequests = 600;
    std::vector<std::vector<uint8_t>> data;
    for (unsigned i = 0; i < kRequests; ++i)
        data.push_back(pattern(i));
    size_t done = 0;
    std::vector<unsigned> finished(kRequests, 0);
    for (unsigned i = 0; i < kRequests; ++i) {
        // Two buffers, split unevenly, as a guest's scatter list would be.
        std::vector<iovec> iov{{data[i].data(), 1000}, {data[i].data() + 1000, kBlock - 1000}};
        engine->writev(i * kBlock, iov, [&, i](const std::string& error) {
            EXPECT_EQ(error, "");
            ++finished[i];
            ++done;
        });
    }
    engine->kick();
    completeUntil(done, kRequests);
    engine->flush([&](const std::string& error) {
        EXPECT_EQ(error, "");
        ++done;
    });
    engine->kick();
    completeUntil(done, kRequests + 1);
    for (unsigned i = 0; i < kRequests; ++i)
        EXPECT_EQ(finished[i], 1u) << "write " << i;
    std::vector<std::vector<uint8_t>> back(kRequests, std::vector<uint8_t>(kBlock));
    done = 0;
    for (unsigned i = 0; i < kRequests; ++i)
        engine->readv(i * kBlock, {{back[i].data(), kBlock}}, [&](const std::string& error) {
            EXPECT_EQ(error, "");
            ++done;
        });
    engine->kick();
    completeUntil(done, kRequests);
    for (unsigned i = 0; i < kRequests; ++i)
        EXPECT_EQ(back[i], data[i]) << "read " << i;
    std::vector<uint8_t> file(kBlock);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(::pread(fd, file.data(), kBlock, 77 * kBlock), static_cast<ssize_t>(kBlock));
    ::close(fd);
    EXPECT_EQ(file, data[77]);
}

// A read across the end of the file gets a short transfer first, then nothing: the rest
// is asked for again, and reads as zeroes.
TEST_P(IoEngineTest, ReadAcrossTheEndOfTheFileResumesAndReadsZeroes)
{
    open(3 * kBlock, false);
    auto data = pattern(5);
    size_t done = 0;
    engine->writev(2 * kBlock, {{data.data(), kBlock}}, [&](const std::string& error) {
        EXPECT_EQ(error, "");
        ++done;
    });
    engine->kick();
    completeUntil(done, 1);
    std::vector<uint8_t> back(3 * kBlock, 0xee);
    engine->readv(2 * kBlock, {{back.data(), 100}, {back.data() + 100, back.size() - 100}}, [&](const std::string& error) {
        EXPECT_EQ(error, "");
        ++done;
    });
    engine->kick();
    completeUntil(done, 2);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin()));
    EXPECT_TRUE(std::all_of(back.begin() + kBlock, back.end(), [](uint8_t b) { return b == 0; }));
}

// A write the file refuses comes back as an error naming the image; nothing throws.
TEST_P(IoEngineTest, ErrorsNameTheImage)
{
    open(0, true);
    auto data = pattern(1);
    size_t done = 0;
    std::string error;
    engine->writev(0, {{data.data(), kBlock}}, [&](const std::string& e) {
        error = e;
        ++done;
    });
    engine->kick();
    completeUntil(done, 1);
    EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
}

// O_DIRECT with a buffer off the 4 KiB grid: served whole (io_uring hands it to the
// workers, whose bounce buffer aligns it).
TEST_P(IoEngineTest, UnalignedDirectTransfers)
{
    open(1u << 20, false);
    engine.reset();
    image.reset();
    image = std::make_unique<RawImage>(path, false, true);
    engine = openIoEngine(GetParam(), *image, "test-io", 4, {});
    std::vector<uint8_t> buffer(3 * kBlock);
    auto data = pattern(9, 1536);
    std::copy(data.begin(), data.end(), buffer.begin() + 512);
    size_t done = 0;
    engine->writev(512, {{buffer.data() + 512, data.size()}}, [&](const std::string& error) {
        EXPECT_EQ(error, "");
        ++done;
    });
    engine->kick();
    completeUntil(done, 1);
    std::vector<uint8_t> back(data.size());
    engine->readv(512, {{back.data(), back.size()}}, [&](const std::string& error) {
        EXPECT_EQ(error, "");
        ++done;
    });
    engine->kick();
    completeUntil(done, 2);
    EXPECT_EQ(back, data);
}

// waitIdle from another thread returns with nothing in flight, the completions still
// waiting for complete(); cancel forgets them.
TEST_P(IoEngineTest, WaitIdleThenCompleteAndCancel)
{
    constexpr unsigned kRequests = 300;
    std::vector<uint8_t> data(kRequests * kBlock, 0x5a);
    size_t done = 0;
    for (unsigned i = 0; i < kRequests; ++i)
        engine->writev(i * kBlock, {{data.data() + i * kBlock, kBlock}}, [&](const std::string&) { ++done; });
    engine->kick();
    std::thread([&] { engine->waitIdle(); }).join();
    EXPECT_EQ(done, 0u);
    size_t completed = 0;
    while (completed < kRequests)
        completed += engine->complete();
    EXPECT_EQ(done, kRequests);

    done = 0;
    for (unsigned i = 0; i < kRequests; ++i)
        engine->readv(i * kBlock, {{data.data() + i * kBlock, kBlock}}, [&](const std::string&) { ++done; });
    engine->submit([] {}, [&] { ++done; });
    engine->kick();
    std::thread([&] { engine->cancel(); }).join();
    EXPECT_EQ(engine->complete(), 0u);
    EXPECT_EQ(done, 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest, ::testing::Values(IoEngineKind::IoUring, IoEngineKind::Threads),
                         [](const auto& info) { return std::string(info.param == IoEngineKind::IoUring ? "IoUring" : "Threads"); });

TEST(OpenIoEngine, AutoTakesIoUringForRawImagesOnly)
{
    ScratchDir dir;
    ASSERT_EQ(test::run("qemu-img create -q -f raw '" + dir / "a.raw" + "' 1M && qemu-img create -q -f qcow2 '" +
                        dir / "a.qcow2" + "' 1M"),
              0);
    auto raw = openImage(dir / "a.raw", {});
    ImageOptions options;
    options.type = ImageType::Qcow2;
    auto qcow2 = openImage(dir / "a.qcow2", options);
    EXPECT_EQ(openIoEngine(IoEngineKind::Auto, *raw, "t", 1, {})->kind(), IoEngineKind::IoUring);
    EXPECT_EQ(openIoEngine(IoEngineKind::Threads, *raw, "t", 1, {})->kind(), IoEngineKind::Threads);
    EXPECT_EQ(openIoEngine(IoEngineKind::Auto, *qcow2, "t", 1, {})->kind(), IoEngineKind::Threads);
    try {
        openIoEngine(IoEngineKind::IoUring, *qcow2, "t", 1, {});
        FAIL() << "io_uring accepted a qcow2 image";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("io_engine=io_uring: "), std::string::npos) << e.what();
    }
}

TEST(OpenIoEngine, NamesRoundTrip)
{
    for (auto kind : {IoEngineKind::Auto, IoEngineKind::IoUring, IoEngineKind::Threads})
        EXPECT_EQ(ioEngineFromName(ioEngineName(kind)), kind);
    EXPECT_EQ(ioEngineFromName("aio"), std::nullopt);
}

}  // namespace
