#include "GuestMemory.h"

#include <sys/mman.h>
#include <unistd.h>

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

GuestMemory::GuestMemory(uint64_t size, uint64_t lowLimit, uint64_t highBase, bool hugePages) : size_(size)
{
    if (size == 0)
        throw Error(_("memory size must be greater than zero"));
    unsigned flags = MFD_CLOEXEC | (hugePages ? MFD_HUGETLB : 0);
    fd_.reset(::memfd_create("mica-guest-ram", flags));
    if (!fd_)
        throw systemError(hugePages ? _("cannot allocate guest memory from huge pages") : _("cannot allocate guest memory"));
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) < 0)
        throw systemError(_("cannot size guest memory to ") + std::to_string(size >> 20) + " MiB");
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_.get(), 0);
    if (addr == MAP_FAILED)
        throw systemError(_("cannot map guest memory"));
    mapping_ = MappedRegion(addr, size);
    // Transparent huge pages cut TLB misses when hugetlbfs was not asked for.
    if (!hugePages)
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

}  // namespace mica
