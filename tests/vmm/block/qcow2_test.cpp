// Qcow2Image against qemu-img: images qemu-img makes (versions 2 and 3, small and
// default clusters, compressed, backing chains) are written by mica's class with the
// same random operations as a raw mirror, then `qemu-img check` must find nothing
// wrong and `qemu-img compare` nothing different. And what must be refused is.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include "Error.h"
#include "ImageFiles.h"
#include "Qcow2Image.h"

using namespace mica;
using namespace mica::block;
using namespace mica::block::test;

namespace {

constexpr uint64_t kMiB = 1 << 20;

std::unique_ptr<DiskImage> open(const std::string& path, bool readOnly = false)
{
    ImageOptions options;
    options.type = ImageType::Qcow2;
    options.readOnly = readOnly;
    return openImage(path, options);
}

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Writes the mix into a fresh image made by `create` (a qemu-img command line without
// the file name), then has qemu-img check and compare it.
void writeAndCheck(const std::string& createOptions, uint64_t size, unsigned operations, uint64_t maxLength,
                   uint64_t seed, bool direct = false)
{
    ScratchDir dir;
    std::string image = dir / "disk.qcow2", raw = dir / "mirror.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + createOptions + " " + image + " " + std::to_string(size)));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + raw + " " + std::to_string(size)));
    {
        ImageOptions options;
        options.type = ImageType::Qcow2;
        options.direct = direct;
        auto disk = openImage(image, options);
        ASSERT_EQ(size, disk->size());
        MirroredWriter writer(*disk, raw, seed);
        writer.randomMix(operations, maxLength);
        writer.expectSameContent();
        disk->flush();
    }
    EXPECT_EQ(0, run("qemu-img check -q " + image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + image + " " + raw));
}

TEST(Qcow2Image, Version3RandomWritesPassQemuImgCheck)
{
    writeAndCheck("", 64 * kMiB, 400, 300 * 1024, 1);
}

TEST(Qcow2Image, Version2RandomWritesPassQemuImgCheck)
{
    writeAndCheck("-o compat=0.10", 32 * kMiB, 300, 200 * 1024, 2);
}

TEST(Qcow2Image, DirectIoRandomWritesPassQemuImgCheck)
{
    writeAndCheck("", 16 * kMiB, 200, 100 * 1024, 3, true);
}

// qemu-img check's exit status on a copy of the image taken now, as a crash would
// leave the file: 0 clean, 3 leaked clusters only, 2 corruption.
int checkCrashCopy(const ScratchDir& dir, const std::string& image)
{
    std::string copy = dir / "crash.qcow2";
    if (run("cp " + image + " " + copy) != 0)
        return -1;
    return run("qemu-img check -q " + copy);
}

TEST(Qcow2Image, MetadataWaitsForAFlush)
{
    // A write that allocates changes the tables in memory only: a copy of the file
    // taken before the flush has nothing mapped yet (and is clean), one after it holds
    // the write.
    ScratchDir dir;
    std::string image = dir / "disk.qcow2", raw = dir / "mirror.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + image + " 8M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + raw + " 8M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + dir / "empty.raw" + " 8M"));
    auto disk = open(image);
    MirroredWriter writer(*disk, raw, 10);
    writer.write(0, kMiB);
    writer.write(3 * kMiB + 512, 100 * 1024);
    EXPECT_EQ(0, checkCrashCopy(dir, image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + dir / "crash.qcow2" + " " + dir / "empty.raw"));
    disk->flush();
    EXPECT_EQ(0, checkCrashCopy(dir, image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + dir / "crash.qcow2" + " " + raw));
}

TEST(Qcow2Image, CrashBeforeAFlushLeaksAtWorst)
{
    // 512-byte clusters: an L2 table maps 32 KiB and a refcount block counts 128 KiB
    // of file, so random writes, zeroings and discards over 8 MiB evict dirty tables
    // all the time, make refcount blocks and move the refcount table. A copy of the file
    // between any two requests (what a crash leaves) has at worst leaked clusters:
    // never a cluster counted free that a table points at, nor one with two owners.
    // After a flush, the file is exactly right.
    ScratchDir dir;
    std::string image = dir / "disk.qcow2", raw = dir / "mirror.raw";
    uint64_t size = 8 * kMiB;
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -o cluster_size=512 " + image + " " + std::to_string(size)));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + raw + " " + std::to_string(size)));
    auto disk = open(image);
    MirroredWriter writer(*disk, raw, 11);
    for (int round = 0; round < 40; ++round) {
        SCOPED_TRACE(round);
        if (round % 10 == 0) {
            for (uint64_t at = round / 10 * 2 * kMiB; at < (round / 10 + 1) * 2 * kMiB; at += 256 * 1024)
                writer.write(at, 256 * 1024);
        }
        writer.randomMix(8, 48 * 1024);
        int status = checkCrashCopy(dir, image);
        EXPECT_TRUE(status == 0 || status == 3) << "qemu-img check: " << status;
        if (round % 13 == 12) {
            disk->flush();
            EXPECT_EQ(0, checkCrashCopy(dir, image));
            EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + dir / "crash.qcow2" + " " + raw));
        }
    }
    writer.expectSameContent();
    disk->flush();
    EXPECT_EQ(0, checkCrashCopy(dir, image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + dir / "crash.qcow2" + " " + raw));
    disk.reset();
    EXPECT_EQ(0, run("qemu-img check -q " + image));
}

TEST(Qcow2Image, ClosingWritesTheMetadataBack)
{
    // No flush at all: closing the image writes what it cached, and syncs.
    ScratchDir dir;
    std::string image = dir / "disk.qcow2", raw = dir / "mirror.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + image + " 16M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + raw + " 16M"));
    {
        auto disk = open(image);
        MirroredWriter writer(*disk, raw, 12);
        writer.randomMix(100, 256 * 1024);
    }
    EXPECT_EQ(0, run("qemu-img check -q " + image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + image + " " + raw));
}

TEST(Qcow2Image, ConcurrentWritersOverTheSameClustersLeaveNoLeak)
{
    // Four threads (a disk's workers) write runs of whole clusters over the same
    // 8 MiB at once, each its own byte: allocating writes let the image's lock go
    // while their data is written, and a request over clusters being allocated waits
    // for them. So each cluster ends up one thread's whole, and qemu-img finds
    // neither a leak (a cluster allocated twice) nor corruption.
    ScratchDir dir;
    std::string image = dir / "disk.qcow2";
    const uint64_t size = 8 * kMiB, cluster = 65536;
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + image + " " + std::to_string(size)));
    {
        auto disk = open(image);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                std::mt19937_64 random(100 + t);
                std::vector<uint8_t> data(8 * cluster, static_cast<uint8_t>(t + 1));
                for (int i = 0; i < 150; ++i) {
                    uint64_t clusters = 1 + random() % 8;
                    uint64_t at = random() % (size / cluster - clusters + 1) * cluster;
                    if (i % 5 == 4)
                        disk->discard(at, clusters * cluster);
                    else
                        disk->writev(at, {iovec{data.data(), clusters * cluster}});
                }
            });
        for (auto& thread : threads)
            thread.join();
        std::vector<uint8_t> bytes(cluster);
        for (uint64_t at = 0; at < size; at += cluster) {
            disk->readv(at, {iovec{bytes.data(), bytes.size()}});
            ASSERT_TRUE(std::all_of(bytes.begin(), bytes.end(), [&](uint8_t b) { return b == bytes[0]; }))
                << "cluster at " << at;
        }
    }
    EXPECT_EQ(0, run("qemu-img check -q " + image));
}

TEST(Qcow2Image, SmallClustersGrowTheRefcountTable)
{
    // 512-byte clusters: one refcount table cluster covers 8 MiB of file, so filling
    // 24 MiB makes the table move (twice).
    ScratchDir dir;
    std::string image = dir / "disk.qcow2", raw = dir / "mirror.raw";
    uint64_t size = 24 * kMiB;
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -o cluster_size=512 " + image + " " + std::to_string(size)));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + raw + " " + std::to_string(size)));
    {
        auto disk = open(image);
        MirroredWriter writer(*disk, raw, 4);
        for (uint64_t at = 0; at < size; at += kMiB)
            writer.write(at, kMiB);
        writer.randomMix(200, 64 * 1024);
        writer.expectSameContent();
    }
    EXPECT_EQ(0, run("qemu-img check -q " + image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + image + " " + raw));
}

TEST(Qcow2Image, ResizeGrowsTheDiskAndItsL1Table)
{
    // 64 KiB clusters: one L1 entry maps 512 MiB, so 600 MiB needs a second one.
    ScratchDir dir;
    std::string image = dir / "disk.qcow2", raw = dir / "mirror.raw";
    uint64_t size = 600 * kMiB;
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + image + " 1M"));
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + raw + " 1M"));
    auto disk = open(image);
    {
        MirroredWriter writer(*disk, raw, 5);
        writer.randomMix(50, 64 * 1024);
    }
    EXPECT_NE(errorOf([&] { disk->resize(kMiB / 2); }).find("shrinking"), std::string::npos);
    disk->resize(size);
    EXPECT_EQ(size, disk->size());
    ASSERT_EQ(0, run("truncate -s " + std::to_string(size) + " " + raw));
    {
        MirroredWriter writer(*disk, raw, 6);
        writer.write(size - 100 * 1024, 100 * 1024);
        writer.write(512 * kMiB - 4096, 8192);
        writer.randomMix(100, 64 * 1024);
        writer.expectSameContent();
    }
    disk.reset();
    EXPECT_EQ(0, run("qemu-img check -q " + image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + image + " " + raw));
    EXPECT_EQ(0, run("qemu-img info " + image + " | grep -q 'virtual size: 600 MiB'"));
}

TEST(Qcow2Image, ResizeBeyondTheL1ClustersIsRefused)
{
    // 512-byte clusters: an L1 entry maps 32 KiB and the table's one cluster holds 64
    // of them, 2 MiB.
    ScratchDir dir;
    std::string image = dir / "disk.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -o cluster_size=512 " + image + " 1M"));
    auto disk = open(image);
    disk->resize(2 * kMiB);
    EXPECT_NE(errorOf([&] { disk->resize(3 * kMiB); }).find("larger L1 table"), std::string::npos);
    EXPECT_EQ(2 * kMiB, disk->size());
    disk.reset();
    EXPECT_EQ(0, run("qemu-img check -q " + image));
}

TEST(Qcow2Image, ThreeDeepBackingChainReadsAndWrites)
{
    // base.raw <- mid.qcow2 (v2) <- top.qcow2 (v3), each layer written by qemu-io; mica
    // reads the chain as qemu-img convert does, then writes into the top.
    ScratchDir dir;
    std::string base = dir / "base.raw", mid = dir / "mid.qcow2", top = dir / "top.qcow2";
    ASSERT_EQ(0, run("head -c 8388608 /dev/urandom > " + base));
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -o compat=0.10 -b base.raw -F raw " + mid));
    ASSERT_EQ(0, run("qemu-io -f qcow2 -c 'write -P 0x11 65536 300000' -c 'write -z 1048576 131072' " + mid));
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 " + top + " 12M"));
    ASSERT_EQ(0, run("qemu-io -f qcow2 -c 'write -P 0x22 200000 70000' -c 'write -z 2097152 65536' "
                     "-c 'discard 3145728 65536' " + top));
    ASSERT_EQ(0, run("qemu-img convert -O raw " + top + " " + dir / "expected.raw"));
    {
        auto disk = open(top);
        ASSERT_EQ(12 * kMiB, disk->size());
        MirroredWriter writer(*disk, dir / "expected.raw", 5);
        writer.expectSameContent();  // past the 8 MiB of the base: zeroes
        writer.randomMix(200, 100 * 1024);
        writer.expectSameContent();
    }
    EXPECT_EQ(0, run("qemu-img check -q " + top));
    EXPECT_EQ(0, run("qemu-img check -q " + mid));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + top + " " + dir / "expected.raw"));
}

TEST(Qcow2Image, CompressedClustersReadAndAreRewritten)
{
    ScratchDir dir;
    std::string source = dir / "source.raw", image = dir / "c.qcow2";
    // Compressible data: runs of a repeating pattern with some random bytes.
    ASSERT_EQ(0, run("(for i in $(seq 64); do head -c 65536 /dev/zero | tr '\\0' \"\\\\$(printf %03o $((i % 200 + 1)))\"; "
                     "head -c 4096 /dev/urandom; done) > " + source + " && truncate -s 8M " + source));
    ASSERT_EQ(0, run("qemu-img convert -c -O qcow2 -f raw " + source + " " + image));
    {
        auto disk = open(image);
        MirroredWriter writer(*disk, source, 6);
        writer.expectSameContent();
        writer.randomMix(150, 100 * 1024);
        writer.expectSameContent();
    }
    EXPECT_EQ(0, run("qemu-img check -q " + image));
    EXPECT_EQ(0, run("qemu-img compare -q -f qcow2 -F raw " + image + " " + source));
}

TEST(Qcow2Image, BackingFileWithoutStatedFormatIsRefused)
{
    ScratchDir dir;
    std::string top = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + dir / "base.raw" + " 1M"));
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -b base.raw -F raw " + top));
    // Turn the backing format extension into an unknown one (ignored by readers).
    {
        int fd = ::open(top.c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        std::vector<uint8_t> head(4096);
        ASSERT_EQ(4096, ::pread(fd, head.data(), head.size(), 0));
        const uint8_t ext[4] = {0xe2, 0x79, 0x2a, 0xca};
        auto at = std::search(head.begin(), head.end(), ext, ext + 4);
        ASSERT_NE(at, head.end());
        const uint8_t unknown[4] = {0x12, 0x34, 0x56, 0x78};
        ASSERT_EQ(4, ::pwrite(fd, unknown, 4, at - head.begin()));
        ::close(fd);
    }
    std::string error = errorOf([&] { open(top); });
    EXPECT_NE(error.find("no stated format"), std::string::npos) << error;
    EXPECT_NE(error.find(top), std::string::npos) << error;
    error = errorOf([&] { readImageInfo(top, ImageType::Qcow2); });
    EXPECT_NE(error.find("no stated format"), std::string::npos) << error;
}

TEST(Qcow2Image, BackingLoopIsRefused)
{
    ScratchDir dir;
    std::string a = dir / "a.qcow2", b = dir / "b.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + a + " 1M && qemu-img create -q -f qcow2 " + b + " 1M"));
    ASSERT_EQ(0, run("qemu-img rebase -u -b b.qcow2 -F qcow2 " + a + " && qemu-img rebase -u -b a.qcow2 -F qcow2 " + b));
    std::string error = errorOf([&] { open(a); });
    EXPECT_NE(error.find("loop"), std::string::npos) << error;
}

TEST(Qcow2Image, ReadInfoGivesSizeAndResolvedBacking)
{
    ScratchDir dir;
    std::string top = dir / "top.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f raw " + dir / "base.raw" + " 3M"));
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -b base.raw -F raw " + top + " 5M"));
    ImageInfo info = readImageInfo(top, ImageType::Qcow2);
    EXPECT_EQ(5 * kMiB, info.virtualSize);
    ASSERT_TRUE(info.backing);
    EXPECT_EQ(dir / "base.raw", info.backing->path);
    EXPECT_EQ(ImageType::Raw, info.backing->type);
    EXPECT_EQ(3 * kMiB, readImageInfo(dir / "base.raw", ImageType::Raw).virtualSize);
}

TEST(Qcow2Image, RawImageHoldingAQcow2HeaderStaysRaw)
{
    // A guest that writes a qcow2 header naming a host file as backing into its raw
    // disk gets its own bytes back, and nothing of the host file.
    ScratchDir dir;
    std::string raw = dir / "guest.raw";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -b /etc/hostname -F raw " + dir / "evil.qcow2" + " 1M"));
    ASSERT_EQ(0, run("cp " + dir / "evil.qcow2" + " " + raw + " && truncate -s 1M " + raw));
    ImageOptions options;  // raw: the configuration says so
    auto disk = openImage(raw, options);
    EXPECT_EQ(kMiB, disk->size());
    std::vector<uint8_t> head(4);
    disk->readv(0, {iovec{head.data(), 4}});
    EXPECT_EQ(0, std::memcmp(head.data(), "QFI\xfb", 4));
    EXPECT_FALSE(readImageInfo(raw, ImageType::Raw).backing);
}

TEST(Qcow2Image, RefusesWhatItCannotWriteSafely)
{
    ScratchDir dir;
    std::string image = dir / "s.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + image + " 1M && qemu-img snapshot -c snap1 " + image));
    EXPECT_NE(errorOf([&] { open(image); }).find("internal snapshots"), std::string::npos);
    EXPECT_EQ("", errorOf([&] { open(image, true); }));  // read-only is fine
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -o encrypt.format=luks,encrypt.key-secret=s "
                     "--object secret,id=s,data=x " + dir / "e.qcow2" + " 1M"));
    EXPECT_NE(errorOf([&] { open(dir / "e.qcow2"); }).find("encrypted"), std::string::npos);
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 -o data_file=" + dir / "data.raw" + " " + dir / "x.qcow2" + " 1M"));
    EXPECT_NE(errorOf([&] { open(dir / "x.qcow2"); }).find("external data"), std::string::npos);
    // Not a qcow2 file at all, and a truncated one.
    ASSERT_EQ(0, run("head -c 1000 /dev/zero > " + dir / "zero.qcow2"));
    EXPECT_NE(errorOf([&] { open(dir / "zero.qcow2"); }).find("not a qcow2 image"), std::string::npos);
    ASSERT_EQ(0, run("head -c 200 " + image + " > " + dir / "short.qcow2"));
    EXPECT_NE(errorOf([&] { open(dir / "short.qcow2"); }).find("qcow2:"), std::string::npos);
}

TEST(Qcow2Image, ReadOnlyRefusesWrites)
{
    ScratchDir dir;
    std::string image = dir / "r.qcow2";
    ASSERT_EQ(0, run("qemu-img create -q -f qcow2 " + image + " 1M"));
    auto disk = open(image, true);
    std::vector<uint8_t> data(512, 1);
    EXPECT_THROW(disk->writev(0, {iovec{data.data(), data.size()}}), Error);
    EXPECT_THROW(disk->discard(0, 65536), Error);
    EXPECT_THROW(disk->readv(1 << 20, {iovec{data.data(), data.size()}}), Error);  // past the end
}

}  // namespace
