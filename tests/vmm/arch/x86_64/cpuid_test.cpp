// guestCpuid: what the guest learns from CPUID about itself — the hypervisor bit, its
// APIC id and topology, and the TSC-deadline timer only when KVM emulates one.
#include <gtest/gtest.h>

#include "Cpuid.h"

namespace {

using mica::x86::guestCpuid;

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index = 0)
{
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    return e;
}

const kvm_cpuid_entry2& find(const std::vector<kvm_cpuid_entry2>& cpuid, uint32_t function, uint32_t index = 0)
{
    for (const auto& e : cpuid)
        if (e.function == function && e.index == index)
            return e;
    throw std::runtime_error("no such leaf");
}

TEST(GuestCpuid, Leaf1HasHypervisorBitApicIdAndCount)
{
    auto cpuid = guestCpuid({leaf(1)}, 5, {1, 4, 2}, false);
    const auto& l1 = find(cpuid, 1);
    EXPECT_TRUE(l1.ecx & (1u << 31));
    EXPECT_EQ(l1.ebx >> 24, 5u);             // initial APIC id
    EXPECT_EQ((l1.ebx >> 16) & 0xff, 8u);    // logical processors per package
    EXPECT_TRUE(l1.edx & (1u << 28));        // HTT: more than one
    EXPECT_FALSE(l1.ecx & (1u << 24));       // no TSC-deadline timer unless KVM has one
}

TEST(GuestCpuid, TscDeadlineTimerWhenKvmEmulatesIt)
{
    auto cpuid = guestCpuid({leaf(1)}, 0, {}, true);
    EXPECT_TRUE(find(cpuid, 1).ecx & (1u << 24));
}

TEST(GuestCpuid, ExtendedTopologyLevels)
{
    auto cpuid = guestCpuid({leaf(0xb, 0), leaf(0xb, 1)}, 3, {1, 2, 2}, false);
    EXPECT_EQ(find(cpuid, 0xb, 0).eax, 1u);  // one bit of thread id
    EXPECT_EQ(find(cpuid, 0xb, 0).ebx, 2u);
    EXPECT_EQ(find(cpuid, 0xb, 1).eax, 2u);  // then one bit of core id
    EXPECT_EQ(find(cpuid, 0xb, 1).ebx, 4u);
    EXPECT_EQ(find(cpuid, 0xb, 1).edx, 3u);  // x2APIC id
}

}  // namespace
