// A disk's I/O limits enforced (IoLimits): a leaky bucket per limited rate. A request
// may go while its buckets are not over their size; it then adds its bytes and its
// operation to them, even past the size (so a request larger than a bucket still goes,
// and the average holds: the next waits until the bucket has leaked back). Each bucket
// leaks at its rate. Without a burst its size is a tenth of a second of the rate; with
// one, max x max_length, and a second bucket leaking at max, a tenth of a second of it,
// keeps the burst itself at max. (QEMU's throttling semantics, which libvirt's <iotune>
// documents.)
#pragma once

#include <cstdint>

#include "IoLimits.h"

namespace mica::block {

class IoThrottle {
public:
    // Times are nanoseconds of one monotonic clock, given by the caller (a test's own).
    void set(const IoLimits& limits, uint64_t now);
    const IoLimits& limits() const { return limits_; }
    bool limited() const { return limits_.limited(); }
    // How long a request in this direction must wait before it may go; 0: now.
    uint64_t wait(IoDirection direction, uint64_t now);
    // The request goes: its buckets take it.
    void account(IoDirection direction, uint64_t bytes);

private:
    struct Bucket {
        double rate = 0, size = 0, level = 0;
        double burstRate = 0, burstSize = 0, burstLevel = 0;
        void leak(double seconds);
        double waitSeconds() const;
    };
    template <typename F>
    void forEach(IoDirection direction, F&& f);
    void leakAll(uint64_t now);

    IoLimits limits_;
    Bucket buckets_[6];
    uint64_t lastLeak_ = 0;
};

}  // namespace mica::block
