#include "GuestMemory.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "Error.h"
#include "i18n.h"

namespace mica {

static std::string hex(uint64_t value)
{
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%#llx", static_cast<unsigned long long>(value));
    return buffer;
}

// KVM maps guest RAM with 2 MiB pages only where the host address and the guest-physical
// address agree modulo 2 MiB, so the mapping starts on a 2 MiB boundary, as QEMU's does;
// the kernel would place it anywhere, and every first touch of a page of the guest would
// then be a 4 KiB nested page fault (33,000 more exits in a 256 MiB boot: tests/bench/boot).
// Hugetlb mappings are aligned by the kernel to their page size.
static void* mapAligned(uint64_t size, int flags, int fd)
{
    constexpr uint64_t kAlign = 2 << 20;
    void* reserved = ::mmap(nullptr, size + kAlign, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserved == MAP_FAILED)
        return MAP_FAILED;
    auto start = reinterpret_cast<uintptr_t>(reserved);
    uintptr_t aligned = (start + kAlign - 1) & ~(kAlign - 1);
    void* addr = ::mmap(reinterpret_cast<void*>(aligned), size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
    if (addr == MAP_FAILED) {
        int saved = errno;
        ::munmap(reserved, size + kAlign);
        errno = saved;
        return MAP_FAILED;
    }
    if (aligned > start)
        ::munmap(reserved, aligned - start);
    if (uintptr_t end = start + size + kAlign; end > aligned + size)
        ::munmap(reinterpret_cast<void*>(aligned + size), end - (aligned + size));
    return addr;
}

GuestMemory::GuestMemory(uint64_t size, uint64_t lowLimit, uint64_t highBase, MemoryBacking backing)
    : size_(size), backing_(backing)
{
    if (size == 0)
        throw Error(_("memory size must be greater than zero"));
    const char* what = backing.hugePages ? _("cannot allocate guest memory from huge pages")
                                         : _("cannot allocate guest memory");
    int flags = MAP_NORESERVE | (backing.shared ? MAP_SHARED : MAP_PRIVATE);
    if (backing.memfd) {
        fd_.reset(::memfd_create("mica-guest-ram", MFD_CLOEXEC | (backing.hugePages ? MFD_HUGETLB : 0)));
        if (!fd_)
            throw systemError(what);
        if (::ftruncate(fd_.get(), static_cast<off_t>(size)) < 0)
            throw systemError(_("cannot size guest memory to ") + std::to_string(size >> 20) + " MiB");
    } else {
        flags |= MAP_ANONYMOUS | (backing.hugePages ? MAP_HUGETLB : 0);
    }
    void* addr = backing.hugePages ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd_ ? fd_.get() : -1, 0)
                                   : mapAligned(size, flags, fd_ ? fd_.get() : -1);
    if (addr == MAP_FAILED)
        throw systemError(what);
    mapping_ = MappedRegion(addr, size);
    // Transparent huge pages cut TLB misses when hugetlbfs was not asked for.
    if (!backing.hugePages)
        ::madvise(addr, size, MADV_HUGEPAGE);

    uint64_t low = std::min(size, lowLimit);
    regions_.push_back({0, low, 0});
    if (size > low)
        regions_.push_back({highBase, size - low, low});
}

const MemoryRegion* GuestMemory::find(uint64_t gpa, uint64_t length) const
{
    for (const auto& r : regions_) {
        if (gpa >= r.gpa && gpa - r.gpa <= r.size && length <= r.size - (gpa - r.gpa))
            return &r;
    }
    return nullptr;
}

bool GuestMemory::contains(uint64_t gpa, uint64_t length) const
{
    return find(gpa, length) != nullptr;
}

std::span<uint8_t> GuestMemory::slice(uint64_t gpa, uint64_t length) const
{
    const MemoryRegion* r = find(gpa, length);
    if (!r)
        throw Error(_("guest memory access out of range: ") + hex(gpa) + "+" + hex(length));
    return {hostBase() + r->offset + (gpa - r->gpa), length};
}

void GuestMemory::write(uint64_t gpa, std::span<const uint8_t> bytes) const
{
    auto target = slice(gpa, bytes.size());
    std::memcpy(target.data(), bytes.data(), bytes.size());
}

void GuestMemory::mapFilePrivate(int fd, uint64_t offset)
{
    if (fd_ || backing_.shared || backing_.hugePages)
        throw Error(_("only private anonymous guest memory can be mapped from a file"));
    // MAP_FIXED replaces the anonymous pages in place, so every pointer into RAM (KVM's
    // memory slots, the virtqueues') stays valid.
    void* addr = ::mmap(hostBase(), size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd,
                        static_cast<off_t>(offset));
    if (addr == MAP_FAILED)
        throw systemError(_("cannot map the snapshot's memory file"));
}

void GuestMemory::discard(std::span<uint8_t> host) const
{
    auto offset = static_cast<off_t>(host.data() - hostBase());
    auto length = static_cast<off_t>(host.size());
    // Private pages go with MADV_DONTNEED; shared ones live in the memfd or the shared
    // anonymous object and must be removed there, or the host keeps them.
    if (backing_.shared && fd_)
        ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
    else
        ::madvise(host.data(), host.size(), backing_.shared ? MADV_REMOVE : MADV_DONTNEED);
}

}  // namespace mica
