#include "AddressAllocator.h"

namespace mica::pci {

std::optional<uint64_t> AddressAllocator::allocate(uint64_t size)
{
    if (size == 0 || (size & (size - 1)))
        return std::nullopt;
    uint64_t candidate = base_;
    // Walk the gaps between handed-out ranges, lowest first.
    for (auto it = ranges_.begin();; ++it) {
        candidate = (candidate + size - 1) & ~(size - 1);
        uint64_t gapEnd = it == ranges_.end() ? end_ : it->first;
        if (candidate >= base_ && candidate <= gapEnd && gapEnd - candidate >= size) {
            ranges_.emplace(candidate, size);
            return candidate;
        }
        if (it == ranges_.end())
            return std::nullopt;
        candidate = std::max(candidate, it->first + it->second);
    }
}

void AddressAllocator::free(uint64_t address)
{
    ranges_.erase(address);
}

uint64_t AddressAllocator::used() const
{
    uint64_t total = 0;
    for (const auto& [start, size] : ranges_)
        total += size;
    return total;
}

}  // namespace mica::pci
