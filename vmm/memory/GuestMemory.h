// Guest RAM: one mapping in this process, split into guest-physical regions around the
// 32-bit MMIO hole. Every access by guest-physical address is bounds-checked.
// Its backing is what the configuration says (libvirt's <memoryBacking>): anonymous
// memory or a memfd (which vhost-user back ends and snapshots can reuse), mapped private
// or shared, from huge pages or not.
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

struct MemoryBacking {
    bool hugePages = false;  // hugetlbfs pages
    bool memfd = false;      // a memfd rather than anonymous memory
    bool shared = false;     // MAP_SHARED: other processes mapping the same pages see writes
};

class GuestMemory {
public:
    // `size` bytes of RAM; the part above `lowLimit` is placed at `highBase` (4 GiB) so
    // [lowLimit, highBase) stays free for MMIO.
    GuestMemory(uint64_t size, uint64_t lowLimit, uint64_t highBase, MemoryBacking backing = {});

    uint64_t size() const { return size_; }
    const std::vector<MemoryRegion>& regions() const { return regions_; }
    uint8_t* hostBase() const { return static_cast<uint8_t*>(mapping_.get()); }
    const MemoryBacking& backing() const { return backing_; }
    // -1 for anonymous memory.
    int fd() const { return fd_.get(); }
    // Gives the host pages behind [host, host + length) back (the balloon's inflate); the
    // guest's next touch reads zeroes, or the file's bytes after mapFilePrivate() (virtio
    // promises the guest nothing about a page it gave back).
    void discard(std::span<uint8_t> host) const;
    // Maps `fd` (size() bytes from `offset`) private over the whole RAM mapping, at the same
    // address: pages come from the file as they are first touched, writes stay here
    // (copy on write). Only for private anonymous RAM; a restore does it before any vCPU
    // runs. The mapping keeps the file open.
    void mapFilePrivate(int fd, uint64_t offset = 0);

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
    MemoryBacking backing_;
    UniqueFd fd_;
    MappedRegion mapping_;
    std::vector<MemoryRegion> regions_;
};

}  // namespace mica
