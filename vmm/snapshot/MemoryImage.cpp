#include "MemoryImage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "Component.h"
#include "Error.h"

namespace mica::snapshot {

namespace {

constexpr uint64_t kPage = 4096;

bool zeroPage(const uint8_t* page)
{
    const auto* words = reinterpret_cast<const uint64_t*>(page);
    for (size_t i = 0; i < kPage / sizeof(uint64_t); ++i)
        if (words[i])
            return false;
    return true;
}

void writeAll(int fd, const uint8_t* data, uint64_t length, uint64_t offset)
{
    while (length) {
        ssize_t n = ::pwrite(fd, data, std::min<uint64_t>(length, 1 << 30), static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw systemError("snapshot memory: write");
        data += n, length -= static_cast<uint64_t>(n), offset += static_cast<uint64_t>(n);
    }
}

// The ranges of [0, size) that may hold data, as offsets from `base` in the file: a
// file's data extents (reading a memfd's holes would allocate pages; a snapshot's are
// zeroes), everything for anonymous memory.
template <typename Visit>
void forEachExtent(int fd, uint64_t size, Visit visit, uint64_t base = 0)
{
    if (fd < 0) {
        visit(0, size);
        return;
    }
    const uint64_t end = base + size;
    uint64_t at = base;
    while (at < end) {
        off_t data = ::lseek(fd, static_cast<off_t>(at), SEEK_DATA);
        if (data < 0 || static_cast<uint64_t>(data) >= end)
            return;  // ENXIO: no data past `at`
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        uint64_t stop = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
        visit(static_cast<uint64_t>(data) - base, stop - static_cast<uint64_t>(data));
        at = stop;
    }
}

}  // namespace

MemoryImageStats saveMemory(const GuestMemory& memory, int fd, const std::atomic<bool>* cancel)
{
    constexpr uint64_t kCancelCheck = 64 << 20;
    MemoryImageStats stats;
    if (::ftruncate(fd, static_cast<off_t>(memory.size())) < 0)
        throw systemError("snapshot memory: size the file");
    const uint8_t* base = memory.hostBase();
    forEachExtent(memory.fd(), memory.size(), [&](uint64_t start, uint64_t length) {
        // Runs of non-zero pages go out in one write each.
        uint64_t end = start + length, page = start & ~(kPage - 1);
        while (page < end) {
            if (cancel && cancel->load())
                throw Error("cancelled");
            uint64_t checkAt = std::min(end, page + kCancelCheck);
            while (page < checkAt && zeroPage(base + page))
                page += kPage;
            uint64_t run = page;
            while (page < checkAt && !zeroPage(base + page))
                page += kPage;
            if (page > run) {
                writeAll(fd, base + run, std::min(page, end) - run, run);
                stats.bytesWritten += std::min(page, end) - run;
            }
        }
    });
    if (::fsync(fd) < 0)
        throw systemError("snapshot memory: fsync");
    return stats;
}

std::optional<MemoryRestoreMode> memoryRestoreModeFromString(const std::string& text)
{
    if (text == "copy")
        return MemoryRestoreMode::Copy;
    if (text == "ondemand")
        return MemoryRestoreMode::OnDemand;
    return std::nullopt;
}

void loadMemory(GuestMemory& memory, int fd, MemoryRestoreMode mode, uint64_t offset)
{
    struct stat st{};
    if (::fstat(fd, &st) < 0)
        throw systemError("snapshot memory");
    if (offset % kPage)
        throw StateError("the memory starts at offset " + std::to_string(offset) + ", not on a page boundary");
    if (static_cast<uint64_t>(st.st_size) < offset || static_cast<uint64_t>(st.st_size) - offset != memory.size())
        throw StateError("the memory file holds " + std::to_string(static_cast<uint64_t>(st.st_size) - std::min<uint64_t>(offset, static_cast<uint64_t>(st.st_size))) +
                         " bytes, the VM has " + std::to_string(memory.size()) + " bytes of RAM");
    if (mode == MemoryRestoreMode::OnDemand) {
        const auto& b = memory.backing();
        if (b.memfd || b.shared || b.hugePages)
            throw StateError(std::string("memory_restore_mode ondemand needs private anonymous guest memory; this VM's is ") +
                             (b.hugePages ? "on huge pages" : b.memfd ? "a memfd" : "shared"));
        memory.mapFilePrivate(fd, offset);
        return;
    }
    uint8_t* base = memory.hostBase();
    // Only the file's data extents: its holes are zeroes, which fresh RAM already is.
    forEachExtent(fd, memory.size(), [&](uint64_t start, uint64_t length) {
        while (length) {
            ssize_t n = ::pread(fd, base + start, std::min<uint64_t>(length, 1 << 30), static_cast<off_t>(offset + start));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                throw systemError("snapshot memory: read");
            if (n == 0)
                throw StateError("the memory file ended early");
            start += static_cast<uint64_t>(n), length -= static_cast<uint64_t>(n);
        }
    }, offset);
}

}  // namespace mica::snapshot
