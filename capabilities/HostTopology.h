// CPU topology, NUMA cells, memory and huge page pools, from sysfs and procfs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "HostRoot.h"

namespace mica::caps {

struct HostCpu {
    unsigned id = 0;
    unsigned socket = 0, die = 0, core = 0;
    std::string siblings;  // thread_siblings_list as the kernel writes it ("0,8")
};

struct PagePool {
    unsigned sizeKiB = 0;
    uint64_t count = 0;  // pages in the pool (for 4 KiB pages: the memory they cover)
};

struct NumaCell {
    unsigned id = 0;
    uint64_t memoryKiB = 0;
    std::vector<PagePool> pages;  // 4 KiB first, then each huge page size, ascending
    std::vector<std::pair<unsigned, unsigned>> distances;  // (node, distance)
    std::vector<HostCpu> cpus;
};

struct HostTopology {
    std::vector<HostCpu> cpus;  // online CPUs
    std::vector<NumaCell> cells;
    uint64_t memoryKiB = 0;               // MemTotal
    std::vector<unsigned> pageSizesKiB;   // 4, then huge page sizes the kernel offers
    unsigned sockets = 1, dies = 1, cores = 1, threads = 1;  // per socket/die/core
    unsigned physAddrBits = 0;            // /proc/cpuinfo "address sizes", 0 if unknown
};

HostTopology probeTopology(const HostRoot& root);

}  // namespace mica::caps
