#include "IoThrottle.h"

#include <algorithm>
#include <cmath>

namespace mica::block {

void IoThrottle::Bucket::leak(double seconds)
{
    level = std::max(0.0, level - rate * seconds);
    burstLevel = std::max(0.0, burstLevel - burstRate * seconds);
}

double IoThrottle::Bucket::waitSeconds() const
{
    double wait = 0;
    if (rate && level > size)
        wait = (level - size) / rate;
    if (burstRate && burstLevel > burstSize)
        wait = std::max(wait, (burstLevel - burstSize) / burstRate);
    return wait;
}

void IoThrottle::set(const IoLimits& limits, uint64_t now)
{
    limits_ = limits;
    lastLeak_ = now;
    for (size_t i = 0; i < std::size(buckets_); ++i) {
        const BucketLimit& l = limits.buckets[i];
        Bucket b;
        b.rate = static_cast<double>(l.rate);
        b.size = l.max ? static_cast<double>(l.max) * static_cast<double>(std::max<uint64_t>(1, l.maxLength))
                       : b.rate / 10;
        if (l.max) {
            b.burstRate = static_cast<double>(l.max);
            b.burstSize = b.burstRate / 10;
        }
        buckets_[i] = b;
    }
}

template <typename F>
void IoThrottle::forEach(IoDirection direction, F&& f)
{
    for (IoUnit unit : {IoUnit::Bytes, IoUnit::Ops})
        for (IoDirection d : {IoDirection::Total, direction}) {
            Bucket& b = buckets_[bucketIndex(unit, d)];
            if (b.rate)
                f(unit, b);
            if (d == direction)  // direction Total: its bucket once
                break;
        }
}

void IoThrottle::leakAll(uint64_t now)
{
    if (now <= lastLeak_)
        return;
    double seconds = static_cast<double>(now - lastLeak_) / 1e9;
    lastLeak_ = now;
    for (Bucket& b : buckets_)
        b.leak(seconds);
}

uint64_t IoThrottle::wait(IoDirection direction, uint64_t now)
{
    leakAll(now);
    double wait = 0;
    forEach(direction, [&](IoUnit, Bucket& b) { wait = std::max(wait, b.waitSeconds()); });
    return static_cast<uint64_t>(std::ceil(wait * 1e9));
}

void IoThrottle::account(IoDirection direction, uint64_t bytes)
{
    double ops = limits_.sizeIops && bytes > limits_.sizeIops
                     ? static_cast<double>(bytes) / static_cast<double>(limits_.sizeIops)
                     : 1.0;
    forEach(direction, [&](IoUnit unit, Bucket& b) {
        double units = unit == IoUnit::Bytes ? static_cast<double>(bytes) : ops;
        b.level += units;
        b.burstLevel += units;
    });
}

}  // namespace mica::block
