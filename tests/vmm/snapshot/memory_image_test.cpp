// The snapshot's memory file: saved sparse (zero pages are holes), and brought back
// either way a restore can (memory_restore_mode): copied into RAM, or mapped from the
// file on demand with the guest's writes kept out of the file.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "Component.h"
#include "GuestMemory.h"
#include "MemoryImage.h"
#include "UniqueFd.h"

using namespace mica;
using snapshot::MemoryRestoreMode;

namespace {

constexpr uint64_t kSize = 16 << 20, kPage = 4096;

GuestMemory ram(MemoryBacking backing = {})
{
    return GuestMemory(kSize, kSize, 4ull << 30, backing);
}

UniqueFd tempFile()
{
    UniqueFd fd(::memfd_create("memory-image-test", MFD_CLOEXEC));
    EXPECT_TRUE(fd);
    return fd;
}

// Pages 1, 100 and the last one hold data; everything else stays zero.
void fill(const GuestMemory& m)
{
    for (uint64_t page : {uint64_t{1}, uint64_t{100}, kSize / kPage - 1})
        std::memset(m.hostBase() + page * kPage, static_cast<int>(page & 0xff) | 1, kPage);
}

}  // namespace

TEST(MemoryImage, SavesOnlyDataPages)
{
    auto m = ram();
    fill(m);
    auto fd = tempFile();
    auto stats = snapshot::saveMemory(m, fd.get());
    EXPECT_EQ(stats.bytesWritten, 3 * kPage);
    struct stat st{};
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
    EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 3 * kPage);
}

TEST(MemoryImage, ACancelStopsTheSave)
{
    auto m = ram();
    fill(m);
    auto fd = tempFile();
    std::atomic<bool> cancel{true};
    EXPECT_THROW(snapshot::saveMemory(m, fd.get(), &cancel), Error);
    cancel = false;
    EXPECT_EQ(snapshot::saveMemory(m, fd.get(), &cancel).bytesWritten, 3 * kPage);
}

TEST(MemoryImage, CopyAndOnDemandRestoreTheSameBytes)
{
    auto saved = ram();
    fill(saved);
    auto fd = tempFile();
    snapshot::saveMemory(saved, fd.get());
    for (auto mode : {MemoryRestoreMode::Copy, MemoryRestoreMode::OnDemand}) {
        auto m = ram();
        snapshot::loadMemory(m, fd.get(), mode);
        EXPECT_EQ(std::memcmp(m.hostBase(), saved.hostBase(), kSize), 0);
        // The restored guest writes: the file (which a second restore may map) keeps the
        // snapshot's bytes.
        std::memset(m.hostBase() + 100 * kPage, 0xee, kPage);
        uint8_t byte = 0;
        ASSERT_EQ(::pread(fd.get(), &byte, 1, 100 * kPage), 1);
        EXPECT_EQ(byte, 100 | 1);
    }
}

// A save image keeps the RAM after its other parts: both modes read it from an offset.
TEST(MemoryImage, RestoresFromAnOffsetInTheFile)
{
    auto saved = ram();
    fill(saved);
    auto snapshotFd = tempFile();
    snapshot::saveMemory(saved, snapshotFd.get());
    constexpr uint64_t kOffset = 3 * kPage;
    auto image = tempFile();
    ASSERT_EQ(::ftruncate(image.get(), static_cast<off_t>(kOffset + kSize)), 0);
    std::vector<uint8_t> prefix(kOffset, 0x5a), page(kPage);
    ASSERT_EQ(::pwrite(image.get(), prefix.data(), prefix.size(), 0), static_cast<ssize_t>(kOffset));
    for (uint64_t at = 0; at < kSize; at += kPage) {
        ASSERT_EQ(::pread(snapshotFd.get(), page.data(), kPage, static_cast<off_t>(at)), static_cast<ssize_t>(kPage));
        if (std::any_of(page.begin(), page.end(), [](uint8_t b) { return b != 0; })) {
            ASSERT_EQ(::pwrite(image.get(), page.data(), kPage, static_cast<off_t>(kOffset + at)), static_cast<ssize_t>(kPage));
        }
    }
    for (auto mode : {MemoryRestoreMode::Copy, MemoryRestoreMode::OnDemand}) {
        auto m = ram();
        snapshot::loadMemory(m, image.get(), mode, kOffset);
        EXPECT_EQ(std::memcmp(m.hostBase(), saved.hostBase(), kSize), 0);
    }
    auto m = ram();
    EXPECT_THROW(snapshot::loadMemory(m, image.get(), MemoryRestoreMode::Copy, kOffset + 1), StateError);
    EXPECT_THROW(snapshot::loadMemory(m, image.get(), MemoryRestoreMode::Copy, kOffset + kPage), StateError);
}

TEST(MemoryImage, RefusesWhatDoesNotFit)
{
    auto fd = tempFile();
    ASSERT_EQ(::ftruncate(fd.get(), kSize / 2), 0);
    auto m = ram();
    EXPECT_THROW(snapshot::loadMemory(m, fd.get()), StateError);
    ASSERT_EQ(::ftruncate(fd.get(), kSize), 0);
    // A memfd or shared RAM is what other processes see: it cannot become a private file
    // mapping.
    for (MemoryBacking backing : {MemoryBacking{.memfd = true}, MemoryBacking{.shared = true}}) {
        auto shared = ram(backing);
        try {
            snapshot::loadMemory(shared, fd.get(), MemoryRestoreMode::OnDemand);
            ADD_FAILURE() << "ondemand restore into memfd/shared RAM was accepted";
        } catch (const StateError& e) {
            EXPECT_NE(std::string(e.what()).find("ondemand"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(snapshot::memoryRestoreModeFromString("ondemand"), MemoryRestoreMode::OnDemand);
    EXPECT_EQ(snapshot::memoryRestoreModeFromString("copy"), MemoryRestoreMode::Copy);
    EXPECT_FALSE(snapshot::memoryRestoreModeFromString("lazy"));
}
