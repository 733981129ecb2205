// A disk's I/O limits (libvirt's <iotune>, QEMU's throttling options): a rate, an
// optional burst rate and how long a burst may last, for bytes and for operations, of
// reads, writes or both together. Declared once as data: each field's name (the same
// in the VMM's config, libvirt's XML and virsh blkdeviotune's typed parameters), which
// bucket it belongs to and what of it it sets; and the rules both binaries check (the
// daemon when a domain is defined, the VMM when a config arrives).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace mica {

enum class IoUnit { Bytes, Ops };
enum class IoDirection { Total, Read, Write };

// One bucket's limit; 0 everywhere: not limited.
struct BucketLimit {
    uint64_t rate = 0;       // units per second, on average
    uint64_t max = 0;        // burst: units per second while a burst lasts (0: no burst)
    uint64_t maxLength = 0;  // seconds a burst at `max` may last (0: 1 when max is set)
    bool operator==(const BucketLimit&) const = default;
};

struct IoLimits {
    // Bytes total/read/write, then operations total/read/write: bucketIndex().
    std::array<BucketLimit, 6> buckets{};
    uint64_t sizeIops = 0;  // an operation larger than this counts as size/sizeIops of them
    bool operator==(const IoLimits&) const = default;
    bool limited() const;
};

constexpr size_t bucketIndex(IoUnit unit, IoDirection direction)
{
    return static_cast<size_t>(unit) * 3 + static_cast<size_t>(direction);
}

struct IoLimitField {
    const char* name;  // "total_bytes_sec", "read_iops_sec_max", ...
    size_t bucket;     // -1 for size_iops_sec
    uint64_t BucketLimit::*part;
};

// Every field, in libvirt's order (the order of <iotune>'s children and of
// virDomainGetBlockIoTune's parameters).
extern const std::array<IoLimitField, 19> kIoLimitFields;

// The name of one part of one bucket ("read_iops_sec_max").
const char* ioLimitName(size_t bucket, uint64_t BucketLimit::*part);
uint64_t& fieldOf(IoLimits& limits, const IoLimitField& field);
uint64_t fieldOf(const IoLimits& limits, const IoLimitField& field);

// The largest value any field takes (QEMU's and libvirt's bound: 1e15).
inline constexpr uint64_t kMaxIoLimit = 1000000000000000ull;

// What is wrong with these limits, as libvirt and QEMU refuse it (a total beside a read
// or write limit of the same unit, a burst without a rate or below it, a burst length
// without a burst, a value over kMaxIoLimit); empty when they are valid.
std::string ioLimitsProblem(const IoLimits& limits);

}  // namespace mica
