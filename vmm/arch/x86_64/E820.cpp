#include "E820.h"

#include "Layout.h"

namespace mica::x86 {

std::vector<E820Entry> buildE820(const GuestMemory& memory)
{
    std::vector<E820Entry> map{
        {0, kEbdaStart, kE820Ram},
        {kEbdaStart, kLowRamEnd - kEbdaStart, kE820Reserved},
        {kBiosAreaStart, kHighMemoryStart - kBiosAreaStart, kE820Reserved},
    };
    for (const auto& region : memory.regions()) {
        uint64_t start = region.gpa == 0 ? kHighMemoryStart : region.gpa;
        uint64_t end = region.gpa + region.size;
        if (end > start)
            map.push_back({start, end - start, kE820Ram});
    }
    return map;
}

}  // namespace mica::x86
