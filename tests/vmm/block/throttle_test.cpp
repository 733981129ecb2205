// IoThrottle on a simulated clock: the rates, bursts and operation sizes libvirt's
// <iotune> describes, measured over simulated seconds; IoLimits' rules.
#include <gtest/gtest.h>

#include "IoThrottle.h"

using namespace mica;
using namespace mica::block;

namespace {

constexpr uint64_t kSecond = 1000000000;

IoLimits limit(const char* name, uint64_t value, IoLimits limits = {})
{
    for (const auto& f : kIoLimitFields)
        if (std::string(f.name) == name)
            fieldOf(limits, f) = value;
    return limits;
}

// Sends requests of `bytes` in `direction` back to back for `seconds` simulated seconds,
// each as soon as the throttle lets it; returns how many went.
uint64_t run(IoThrottle& t, IoDirection direction, uint64_t bytes, double seconds, uint64_t& now)
{
    uint64_t end = now + static_cast<uint64_t>(seconds * kSecond), sent = 0;
    while (true) {
        now += t.wait(direction, now);
        if (now >= end)
            return sent;
        t.account(direction, bytes);
        ++sent;
    }
}

}  // namespace

TEST(IoThrottle, ByteRateHoldsOverTenSeconds)
{
    IoThrottle t;
    uint64_t now = 5 * kSecond;
    t.set(limit("write_bytes_sec", 2 << 20), now);
    uint64_t sent = run(t, IoDirection::Write, 64 << 10, 10, now);
    double rate = sent * (64 << 10) / 10.0;
    EXPECT_NEAR(rate, 2 << 20, (2 << 20) * 0.02);  // a tenth of a second's bucket, over ten
}

TEST(IoThrottle, ReadLimitLeavesWritesAlone)
{
    IoThrottle t;
    uint64_t now = 0;
    t.set(limit("read_iops_sec", 50), now);
    for (int i = 0; i < 10000; ++i) {
        ASSERT_EQ(t.wait(IoDirection::Write, now), 0u) << "writes are not limited";
        t.account(IoDirection::Write, 4096);
    }
    EXPECT_NEAR(run(t, IoDirection::Read, 4096, 10, now), 500, 10);
}

TEST(IoThrottle, OpsRateAndTotalCoversBothDirections)
{
    IoThrottle t;
    uint64_t now = 0;
    t.set(limit("total_iops_sec", 100), now);
    uint64_t reads = run(t, IoDirection::Read, 4096, 5, now);
    uint64_t writes = run(t, IoDirection::Write, 4096, 5, now);
    EXPECT_NEAR(reads + writes, 1000, 15);
    EXPECT_NEAR(reads, 500, 15);
}

TEST(IoThrottle, LargeOperationsCountBySizeIops)
{
    IoThrottle t;
    uint64_t now = 0;
    t.set(limit("size_iops_sec", 16384, limit("read_iops_sec", 100)), now);
    // 64 KiB reads count as 4 operations each: 25 a second.
    EXPECT_NEAR(run(t, IoDirection::Read, 65536, 10, now), 250, 5);
}

TEST(IoThrottle, BurstRunsAtMaxForItsLengthThenAtTheRate)
{
    IoThrottle t;
    uint64_t now = 0;
    t.set(limit("read_bytes_sec_max_length", 2,
                limit("read_bytes_sec_max", 10 << 20, limit("read_bytes_sec", 1 << 20))),
          now);
    // The bucket holds 20 MiB and leaks 1 MiB/s: at 10 MiB/s it fills in about 2.2 s.
    uint64_t first = run(t, IoDirection::Read, 1 << 20, 2, now);
    EXPECT_NEAR(first, 20, 2) << "the burst runs at max, not faster";
    uint64_t later = run(t, IoDirection::Read, 1 << 20, 10, now);
    EXPECT_NEAR(later, 10, 2) << "then the rate";
}

TEST(IoThrottle, RequestLargerThanTheBucketStillGoes)
{
    IoThrottle t;
    uint64_t now = 0;
    t.set(limit("write_bytes_sec", 1000), now);
    EXPECT_EQ(t.wait(IoDirection::Write, now), 0u);
    t.account(IoDirection::Write, 1 << 20);
    EXPECT_GT(t.wait(IoDirection::Write, now), 1000 * kSecond) << "and the next waits until it has leaked";
}

TEST(IoThrottle, NewLimitsApplyAtOnce)
{
    IoThrottle t;
    uint64_t now = 0;
    t.set(limit("write_bytes_sec", 1 << 20), now);
    EXPECT_NEAR(run(t, IoDirection::Write, 4096, 10, now) * 4096.0 / 10, 1 << 20, (1 << 20) * 0.02);
    t.set(limit("write_bytes_sec", 4 << 20), now);
    EXPECT_NEAR(run(t, IoDirection::Write, 4096, 10, now) * 4096.0 / 10, 4 << 20, (4 << 20) * 0.02);
    t.set({}, now);
    EXPECT_FALSE(t.limited());
}

TEST(IoLimits, RulesLibvirtHasToo)
{
    EXPECT_EQ(ioLimitsProblem({}), "");
    EXPECT_EQ(ioLimitsProblem(limit("read_bytes_sec", 1, limit("write_iops_sec", 5))), "");
    EXPECT_NE(ioLimitsProblem(limit("total_bytes_sec", 1, limit("read_bytes_sec", 1))), "");
    EXPECT_NE(ioLimitsProblem(limit("total_iops_sec_max", 9, limit("write_iops_sec_max", 9))), "");
    EXPECT_NE(ioLimitsProblem(limit("read_iops_sec_max", 10)), "") << "a burst needs a rate";
    EXPECT_NE(ioLimitsProblem(limit("read_iops_sec_max", 10, limit("read_iops_sec", 20))), "") << "burst below rate";
    EXPECT_NE(ioLimitsProblem(limit("read_iops_sec_max_length", 3, limit("read_iops_sec", 20))), "");
    EXPECT_NE(ioLimitsProblem(limit("write_bytes_sec", kMaxIoLimit + 1)), "");
    EXPECT_EQ(kIoLimitFields.size(), 19u);
}
