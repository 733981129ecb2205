// Guest RAM: one memfd (so snapshots, vhost-user and shared memory can reuse it later)
// mapped once into this process and split into guest-physical regions around the
// 32-bit MMIO hole. Every access by guest-physical address is bounds-checked.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "MappedRegion.h"
#include "UniqueFd.h"

namespace mica {

struct MemoryRegion {
    uint64_t gpa;      // guest-physical start
    uint64_t size;
    uint64_t offset;   // offset in the memfd and in the host mapping
};

class GuestMemory {
public:
    // `size` bytes of RAM; the part above `lowLimit` is placed at `highBase` (4 GiB) so
    // [lowLimit, highBase) stays free for MMIO. hugePages backs it with hugetlbfs pages.
    GuestMemory(uint64_t size, uint64_t lowLimit, uint64_t highBase, bool hugePages);

    uint64_t size() const { return size_; }
    const std::vector<MemoryRegion>& regions() const { return regions_; }
    uint8_t* hostBase() const { return static_cast<uint8_t*>(mapping_.get()); }
    int fd() const { return fd_.get(); }

    // True when [gpa, gpa + length) lies entirely in RAM (one region).
    bool contains(uint64_t gpa, uint64_t length) const;
    // The host bytes behind [gpa, gpa + length); throws Error when any byte is not RAM.
    std::span<uint8_t> slice(uint64_t gpa, uint64_t length) const;
    void write(uint64_t gpa, std::span<const uint8_t> bytes) const;
    // Highest guest-physical address + 1 of RAM below 4 GiB.
    uint64_t lowEnd() const { return regions_.front().gpa + regions_.front().size; }

private:
    const MemoryRegion* find(uint64_t gpa, uint64_t length) const;
    uint64_t size_;
    UniqueFd fd_;
    MappedRegion mapping_;
    std::vector<MemoryRegion> regions_;
};

}  // namespace mica
