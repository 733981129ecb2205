// Live chains against qemu-img: the overlays a disk-only snapshot writes are what
// `qemu-img check` and `info` call clean qcow2 images over their backing, and a commit
// job run while another thread keeps writing leaves the base (after the pivot) holding
// every write, as `qemu-img compare` against a raw mirror of the same writes says.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "Error.h"
#include "ImageFiles.h"
#include "LiveDisk.h"
#include "Qcow2Create.h"

using namespace mica;
using namespace mica::block;
using namespace mica::block::test;

namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string output(const std::string& command)
{
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    char buffer[4096];
    while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe))
        out.append(buffer, n);
    EXPECT_EQ(0, ::pclose(pipe)) << command;
    return out;
}

UniqueFd createEmpty(const std::string& path)
{
    return UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
}

std::unique_ptr<LiveDisk> openLive(const std::string& path, ImageType type)
{
    LiveDisk::Options options{{type, false, false, false, {}}, "commit-test", {}};
    return std::make_unique<LiveDisk>(openImage(path, options.image), type, options);
}

// The events a job reports, in order.
struct Events {
    std::mutex mutex;
    std::vector<std::string> seen;
    LiveDisk::JobEvent callback()
    {
        return [this](const std::string& event, const std::string& error) {
            std::lock_guard lock(mutex);
            seen.push_back(event + (error.empty() ? "" : ": " + error));
        };
    }
    std::vector<std::string> get()
    {
        std::lock_guard lock(mutex);
        return seen;
    }
};

void waitReady(LiveDisk& disk)
{
    while (true) {
        auto status = disk.jobStatus();
        ASSERT_TRUE(status);
        ASSERT_EQ("", status->error);
        if (status->ready) {
            EXPECT_EQ(status->end, status->cur);
            EXPECT_EQ(disk.size(), status->end);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

TEST(Qcow2Overlay, QemuImgChecksItAndSeesTheBacking)
{
    ScratchDir dir;
    struct Case {
        const char* create;  // qemu-img's format
        ImageType type;
        uint64_t size;
    };
    for (const Case& c : {Case{"raw", ImageType::Raw, 64 * kMiB}, Case{"qcow2", ImageType::Qcow2, 3 * 1024 * kMiB + 512},
                          Case{"vpc", ImageType::Vhd, 0}, Case{"vhdx", ImageType::Vhdx, 32 * kMiB}}) {
        SCOPED_TRACE(c.create);
        std::string base = dir / (std::string("base.") + c.create), overlay = dir / (std::string("top.") + c.create);
        ASSERT_EQ(0, run("qemu-img create -q -f " + std::string(c.create) + " " + base + " 64M"));
        uint64_t size = c.size ? c.size : readImageInfo(base, c.type).virtualSize;
        UniqueFd fd = createEmpty(overlay);
        ASSERT_TRUE(fd);
        createQcow2Overlay(fd.get(), overlay, size, base, c.type);
        EXPECT_EQ(0, run("qemu-img check -q " + overlay));
        auto info = nlohmann::json::parse(output("qemu-img info --output=json " + overlay));
        EXPECT_EQ("qcow2", info["format"]);
        EXPECT_EQ(size, info["virtual-size"]);
        EXPECT_EQ(65536, info["cluster-size"]);
        EXPECT_EQ(base, info["backing-filename"]);
        EXPECT_EQ(c.create, info["backing-filename-format"]);
        EXPECT_EQ("1.1", info["format-specific"]["data"]["compat"]);
        // And mica reads what it wrote: the size and the backing, of its stated format.
        ImageInfo mine = readImageInfo(overlay, ImageType::Qcow2);
        EXPECT_EQ(size, mine.virtualSize);
        ASSERT_TRUE(mine.backing);
        EXPECT_EQ(base, mine.backing->path);
        EXPECT_EQ(c.type, mine.backing->type);
    }
}

TEST(Qcow2Overlay, RefusesAFileThatIsNotEmpty)
{
    ScratchDir dir;
    std::string overlay = dir / "top.qcow2";
    UniqueFd fd = createEmpty(overlay);
    ASSERT_EQ(1, ::write(fd.get(), "x", 1));
    EXPECT_THROW(createQcow2Overlay(fd.get(), overlay, kMiB, dir / "base.raw", ImageType::Raw), Error);
}

// Writes, a snapshot, writes: the overlay holds the chain's whole content and the
// base what it held at the snapshot.
TEST(LiveDisk, SnapshotPutsAnOverlayOnTopOfTheRunningChain)
{
    ScratchDir dir;
    std::string base = dir / "base.raw", mirror = dir / "mirror.raw", overlay = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + base + " 16M && cp " + base + " " + mirror));
    auto disk = openLive(base, ImageType::Raw);
    {
        MirroredWriter writer(*disk, mirror, 1);
        writer.randomMix(100, 256 * 1024);
    }
    ASSERT_EQ(0, run("cp " + mirror + " " + dir / "at-snapshot.raw"));
    disk->snapshot(overlay, createEmpty(overlay), base);
    EXPECT_EQ(overlay, disk->path());
    EXPECT_EQ(ImageType::Qcow2, disk->topType());
    ASSERT_EQ(2u, disk->chain().size());
    EXPECT_EQ(base, disk->chain()[1].path);
    {
        MirroredWriter writer(*disk, mirror, 2);
        writer.randomMix(200, 256 * 1024);
        writer.expectSameContent();
    }
    disk.reset();
    EXPECT_EQ(0, run("qemu-img check -q " + overlay));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + overlay + " " + mirror));
    EXPECT_EQ(0, run("cmp " + base + " " + dir / "at-snapshot.raw"));
}

// A qcow2 top whose metadata the guest never flushed: the snapshot writes it back,
// so the file that is now a backing is whole on its own while the disk runs on.
TEST(LiveDisk, SnapshotWritesTheOldTopsMetadataBack)
{
    ScratchDir dir;
    std::string base = dir / "base.qcow2", mirror = dir / "mirror.raw", overlay = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + base + " 16M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + mirror + " 16M"));
    auto disk = openLive(base, ImageType::Qcow2);
    MirroredWriter writer(*disk, mirror, 4);
    writer.randomMix(100, 256 * 1024);
    disk->snapshot(overlay, createEmpty(overlay), base);
    ASSERT_EQ(0, run("cp " + base + " " + dir / "copy.qcow2"));
    EXPECT_EQ(0, run("qemu-img check -q " + dir / "copy.qcow2"));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + dir / "copy.qcow2" + " " + mirror));
    writer.randomMix(50, 256 * 1024);
    writer.expectSameContent();
}

// The whole cycle, as vm.disk-snapshot, vm.block-commit and vm.block-job-complete run
// it: a writer thread keeps writing from before the snapshot until after the pivot.
void commitWhileWriting(const std::string& baseFormat, ImageType baseType, bool intermediate)
{
    ScratchDir dir;
    std::string base = dir / "base.img", mid = dir / "mid.qcow2", top = dir / "top.qcow2", mirror = dir / "mirror.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f " + baseFormat + " " + base + " 32M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + mirror + " 32M"));
    auto disk = openLive(base, baseType);
    Events events;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> writes{0};
    std::thread writer([&] {
        MirroredWriter w(*disk, mirror, 7);
        while (!stop) {
            w.randomMix(1, 200 * 1024);
            ++writes;
        }
    });
    // An assertion that returns early still ends the writer.
    std::shared_ptr<void> joinWriter(nullptr, [&](void*) {
        stop = true;
        if (writer.joinable())
            writer.join();
    });
    auto after = [&](uint64_t more) {
        for (uint64_t until = writes + more; writes < until;)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    after(50);
    if (intermediate) {
        disk->snapshot(mid, createEmpty(mid), base);
        after(50);
    }
    std::string below = intermediate ? mid : base;
    disk->snapshot(top, createEmpty(top), below);
    after(50);
    auto chain = disk->chain();
    ASSERT_EQ(intermediate ? 3u : 2u, chain.size());
    EXPECT_EQ(base, chain.back().path);
    UniqueFd baseFile(::open(base.c_str(), O_RDWR | O_CLOEXEC));
    disk->startCommit(chain.back(), std::move(baseFile), events.callback());
    EXPECT_TRUE(disk->jobRunning());
    waitReady(*disk);
    after(100);  // mirrored
    disk->completeJob();
    EXPECT_FALSE(disk->jobRunning());
    EXPECT_FALSE(disk->jobStatus());
    EXPECT_EQ(base, disk->path());
    EXPECT_EQ(baseType, disk->topType());
    EXPECT_EQ(1u, disk->chain().size());
    after(50);  // on the base alone
    joinWriter.reset();
    disk.reset();
    EXPECT_EQ((std::vector<std::string>{"block-job-ready", "block-job-completed"}), events.get());
    if (baseType == ImageType::Qcow2) {
        EXPECT_EQ(0, run("qemu-img check -q " + base));
    }
    EXPECT_EQ(0, run("qemu-img compare -q -f " + baseFormat + " -F raw " + base + " " + mirror));
    auto info = nlohmann::json::parse(output("qemu-img info --backing-chain --output=json " + base));
    EXPECT_EQ(1u, info.size());
}

TEST(LiveDisk, CommitIntoQcow2BaseWhileWritingThenPivot)
{
    commitWhileWriting("qcow2", ImageType::Qcow2, false);
}

TEST(LiveDisk, CommitIntoRawBaseWhileWritingThenPivot)
{
    commitWhileWriting("raw", ImageType::Raw, false);
}

TEST(LiveDisk, CommitTwoOverlaysIntoTheBaseBelowBoth)
{
    commitWhileWriting("qcow2", ImageType::Qcow2, true);
}

// base.raw was the top once (an exclusive lock); two snapshots later a commit into
// mid.qcow2 opens mid's chain again, base.raw under a shared lock: the snapshot that put
// mid over base.raw made base.raw's lock shared.
TEST(LiveDisk, CommitIntoTheImageRightBelowTheTop)
{
    ScratchDir dir;
    std::string base = dir / "base.raw", mid = dir / "mid.qcow2", top = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + base + " 16M"));
    auto disk = openLive(base, ImageType::Raw);
    disk->snapshot(mid, createEmpty(mid), base);
    disk->snapshot(top, createEmpty(top), mid);
    std::vector<char> data(64 * 1024, 'm');
    disk->writev(kMiB, {iovec{data.data(), data.size()}});
    auto chain = disk->chain();
    ASSERT_EQ(3u, chain.size());
    ASSERT_EQ(mid, chain[1].path);
    Events events;
    disk->startCommit(chain[1], UniqueFd(::open(mid.c_str(), O_RDWR | O_CLOEXEC)), events.callback());
    waitReady(*disk);
    disk->completeJob();
    EXPECT_EQ(mid, disk->path());
    EXPECT_EQ(2u, disk->chain().size());
    disk.reset();
    EXPECT_EQ((std::vector<std::string>{"block-job-ready", "block-job-completed"}), events.get());
    EXPECT_EQ(0, run("qemu-img check -q " + mid));
    std::string flat = dir / "flat.raw";
    ASSERT_EQ(0, run("qemu-img convert -f qcow2 -O raw " + mid + " " + flat));
    EXPECT_EQ(std::string(data.size(), 'm'), output("dd if=" + flat + " bs=64k skip=16 count=1 status=none"));
}

TEST(LiveDisk, CancelledCommitLeavesTheOverlayOnTop)
{
    ScratchDir dir;
    std::string base = dir / "base.qcow2", top = dir / "top.qcow2", mirror = dir / "mirror.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + base + " 16M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + mirror + " 16M"));
    auto disk = openLive(base, ImageType::Qcow2);
    Events events;
    MirroredWriter writer(*disk, mirror, 3);
    writer.randomMix(100, 128 * 1024);
    disk->snapshot(top, createEmpty(top), base);
    writer.randomMix(100, 128 * 1024);
    disk->startCommit(disk->chain()[1], UniqueFd(::open(base.c_str(), O_RDWR | O_CLOEXEC)), events.callback());
    waitReady(*disk);
    writer.randomMix(50, 128 * 1024);
    disk->cancelJob();
    EXPECT_EQ(top, disk->path());
    EXPECT_EQ(2u, disk->chain().size());
    writer.randomMix(50, 128 * 1024);
    writer.expectSameContent();
    disk.reset();
    EXPECT_EQ((std::vector<std::string>{"block-job-ready", "block-job-cancelled"}), events.get());
    EXPECT_EQ(0, run("qemu-img check -q " + top));
    EXPECT_EQ(0, run("qemu-img check -q " + base));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + top + " " + mirror));
}

// Four threads that read without a pause, their requests overlapping, as a busy guest's
// workers do: a snapshot still gets in (a change that waits holds new requests back).
TEST(LiveDisk, SnapshotGetsInUnderRequestsThatNeverPause)
{
    ScratchDir dir;
    std::string base = dir / "base.raw", top = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + base + " 4M"));
    auto disk = openLive(base, ImageType::Raw);
    std::atomic<bool> stop{false};
    std::vector<std::thread> readers;
    for (int i = 0; i < 4; ++i)
        readers.emplace_back([&] {
            std::vector<uint8_t> buffer(64 * 1024);
            while (!stop)
                disk->readv(0, {iovec{buffer.data(), buffer.size()}});
        });
    disk->snapshot(top, createEmpty(top), base);
    stop = true;
    for (auto& reader : readers)
        reader.join();
    EXPECT_EQ(top, disk->path());
}

TEST(LiveDisk, CompletingAJobNotReadyOrAbsentIsRefused)
{
    ScratchDir dir;
    std::string base = dir / "base.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + base + " 1M"));
    auto disk = openLive(base, ImageType::Raw);
    EXPECT_THROW(disk->completeJob(), Error);
    EXPECT_THROW(disk->cancelJob(), Error);
    EXPECT_EQ(1u, disk->chain().size());
}

// A disk's base is locked exclusively again once the overlays above it are gone: a
// second writer is refused, as at the VM's start.
TEST(LiveDisk, PivotedBaseIsLockedForWriting)
{
    ScratchDir dir;
    std::string base = dir / "base.raw", top = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + base + " 1M"));
    auto disk = openLive(base, ImageType::Raw);
    disk->snapshot(top, createEmpty(top), base);
    Events events;
    disk->startCommit(disk->chain()[1], UniqueFd(::open(base.c_str(), O_RDWR | O_CLOEXEC)), events.callback());
    waitReady(*disk);
    disk->completeJob();
    EXPECT_THROW(RawImage(base, true, false), Error);  // even a reader
    EXPECT_NO_THROW(RawImage(top, false, false));  // the overlay is no longer held
}

}  // namespace
