// KVM's binary statistics of a VM or a vCPU (KVM_GET_STATS_FD, Linux 5.14): every counter
// KVM keeps, by KVM's own name (exits, halt_exits, io_exits, mmio_exits, irq_exits,
// insn_emulation, ...; which ones depends on the kernel). The kernel updates the values
// in place in the fd's data block; the names and where each value lies are read once.
// What a guest costs in exits, counted instead of timed (in an emulated host, wall time
// is mostly exit cost).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::kvm {

class BinaryStats {
public:
    // `kvmObjectFd`: a VM's or a vCPU's fd. Throws Error when the kernel has no binary
    // statistics or describes them in a way this does not read.
    explicit BinaryStats(int kvmObjectFd);
    // Each single-valued statistic (histograms are left out): name -> value.
    std::map<std::string, std::uint64_t> read() const;

private:
    struct Item {
        std::string name;
        std::uint32_t offset;   // bytes into the data block
    };
    UniqueFd fd_;
    std::vector<Item> items_;
    std::uint32_t dataOffset_ = 0;
    std::size_t dataSize_ = 0;
};

}  // namespace mica::kvm
