// validateConfig() against a host's limits (config/HostLimits): each rule refuses one
// past its limit naming the field and both figures, and takes one at it.
#include "ValidateConfig.h"

#include <gtest/gtest.h>

using namespace mica;

namespace {

HostLimits smallHost()
{
    HostLimits h;
    h.maxVcpus = 8;
    h.maxVcpusFrom = "KVM_CAP_MAX_VCPUS";
    h.memoryBytes = 4ull << 30;
    h.memoryFrom = "RLIMIT_AS";
    h.physAddressBits = 39;
    h.openFiles = 1024;
    return h;
}

VmConfig config(unsigned vcpus, uint64_t memory)
{
    VmConfig c;
    c.payload.kernel = "/boot/vmlinuz";
    c.cpus.boot = c.cpus.max = vcpus;
    c.cpus.topology = {1, vcpus, 1};
    c.memory.size = memory;
    return c;
}

std::string refusal(VmConfig c, const HostLimits& limits)
{
    try {
        validateConfig(c, limits);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST(HostLimits, VcpusUpToTheHostsMaximum)
{
    EXPECT_EQ(refusal(config(8, 1 << 30), smallHost()), "accepted");
    EXPECT_EQ(refusal(config(9, 1 << 30), smallHost()),
              "cpus.boot_vcpus: 9 vCPUs, but a VM here has at most 8: KVM_CAP_MAX_VCPUS");
    VmConfig hotplug = config(2, 1 << 30);
    hotplug.cpus.max = 1000000000;
    hotplug.cpus.topology = {1, 1000000000, 1};
    EXPECT_EQ(refusal(hotplug, smallHost()),
              "cpus.max_vcpus: 1000000000 vCPUs, but a VM here has at most 8: KVM_CAP_MAX_VCPUS");
}

TEST(HostLimits, MemoryUpToWhatTheProcessMayMap)
{
    EXPECT_EQ(refusal(config(1, 4ull << 30), smallHost()), "accepted");
    EXPECT_EQ(refusal(config(1, (4ull << 30) + 4096), smallHost()),
              "memory.size: 4294971392 bytes of RAM, but this process can map at most 4096 MiB (RLIMIT_AS)");
    // The largest size there is: refused, nothing overflows on the way.
    EXPECT_NE(refusal(config(1, UINT64_MAX - 4095), smallHost()).find("memory.size: "), std::string::npos);
}

TEST(HostLimits, RamMustEndBelowTheGuestPhysicalAddressBits)
{
    HostLimits h = smallHost();
    h.memoryBytes = UINT64_MAX;
    h.physAddressBits = 32;
    EXPECT_EQ(refusal(config(1, 3ull << 30), h), "accepted");   // all of it below the hole
    EXPECT_EQ(refusal(config(1, (3ull << 30) + (1 << 20)), h),
              "memory.size: RAM (moved above 4 GiB past 3 GiB) ends at 4097 MiB of guest-physical memory, but this "
              "host's CPU addresses 32 bits");
}

TEST(HostLimits, FdsUpToRlimitNofile)
{
    VmConfig c = config(4, 1 << 30);
    for (int i = 0; i < 4; ++i) {
        DiskConfig d;
        d.path = "/img/" + std::to_string(i);
        d.numQueues = 64;
        c.disks.push_back(d);
    }
    uint64_t need = fdsNeeded(c);
    HostLimits h = smallHost();
    h.openFiles = need;
    EXPECT_EQ(refusal(c, h), "accepted");
    h.openFiles = need - 1;
    EXPECT_EQ(refusal(c, h), "devices: this configuration (its vCPUs, queues, TAPs and files, and the API's "
                             "connections) holds up to " + std::to_string(need) + " fds, but RLIMIT_NOFILE is " +
                             std::to_string(need - 1) + ": fewer queues or devices, or a higher limit");
    // Each queue costs fds: fewer queues, fewer fds.
    c.disks[0].numQueues = 1;
    EXPECT_LT(fdsNeeded(c), need);
}
