// Facts about the host for the node procedures (virNodeGetInfo and friends), read
// from /proc and /sys the way libvirt's own nodeinfo code does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mica::driver {

struct NodeInfo {
    std::string model;        // CPU architecture, as uname -m
    std::uint64_t memoryKiB = 0;
    std::int32_t cpus = 0;    // online CPUs
    std::int32_t mhz = 0;
    std::int32_t nodes = 1;
    std::int32_t sockets = 1; // per node
    std::int32_t cores = 1;   // per socket
    std::int32_t threads = 1; // per core
};

using Counters = std::vector<std::pair<std::string, std::uint64_t>>;

class HostInfo {
public:
    // procRoot/sysRoot let tests point at a fake tree.
    explicit HostInfo(std::string procRoot = "/proc", std::string sysRoot = "/sys")
        : proc_(std::move(procRoot)), sys_(std::move(sysRoot)) {}

    std::string hostname() const;
    NodeInfo nodeInfo() const;
    // VIR_NODE_MEMORY_STATS_* fields in KiB: total, free, buffers, cached.
    Counters memoryStats() const;
    // VIR_NODE_CPU_STATS_* fields in ns for cpu (-1 = all): kernel, user, idle, iowait.
    // Throws std::out_of_range for a CPU that does not exist.
    Counters cpuStats(int cpu) const;
    std::uint64_t freeMemoryBytes() const;
    // The host's SMBIOS facts as libvirt's <sysinfo type='smbios'> XML, from
    // /sys/class/dmi/id; nullopt where the firmware publishes none (containers, some
    // ARM boards).
    std::optional<std::string> sysinfoXml() const;
    int onlineCpus() const;
    // Index = CPU number up to the highest present CPU; true = online.
    std::vector<bool> onlineCpuMap() const;

private:
    std::string proc_, sys_;
};

}  // namespace mica::driver
