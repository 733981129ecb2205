// What this host can give one VM, and the check of a VmConfig against it: a vm.create
// asking for 10^9 vCPUs or more memory than the host has is refused with a 400 naming
// the field, not left to fail (or thrash the host) when the VM is built.
//
// The limits are data (a HostLimits read once from the host) and the rules a table
// (HostLimits.cpp): each names the field, what the config needs and what the host has.
// validateConfig() applies them, so the command line, vm.create and a restore agree.
#pragma once

#include <cstdint>
#include <string>

#include "VmConfig.h"

namespace mica {

// The most vCPUs this VMM gives a VM, whatever KVM allows: xAPIC ids in the MP table
// and the MADT, 255 being the broadcast id (what `mica-vmm --features` says).
inline constexpr unsigned kVmmMaxVcpus = 254;

// KVM_MAX_VCPUS on x86 since Linux 5.15: the most any KVM accepts, taken when there is no
// /dev/kvm to ask (an older or smaller KVM still refuses more when the VM is built).
inline constexpr unsigned kKvmMaxVcpusFallback = 1024;

struct HostLimits {
    // vCPUs one VM may have: KVM_CAP_MAX_VCPUS of /dev/kvm (kKvmMaxVcpusFallback without
    // one), and never more than kVmmMaxVcpus.
    unsigned maxVcpus = kVmmMaxVcpus;
    std::string maxVcpusFrom = "this VMM's limit";
    // Guest RAM: what this process can map (guest RAM is overcommitted: see
    // probeHostLimits()), the host's CommitLimit when it forbids overcommitting, or
    // RLIMIT_AS when that is less.
    uint64_t memoryBytes = uint64_t{1} << 47;
    std::string memoryFrom = "a process's address space";
    // Guest-physical address bits (the host CPU's MAXPHYADDR, which KVM gives guests):
    // RAM, moved above 4 GiB past 3 GiB, must end below 2^bits.
    unsigned physAddressBits = 52;
    // Fds this process may hold (RLIMIT_NOFILE, its soft limit).
    uint64_t openFiles = UINT64_MAX;
};

// This host's limits, read at the first call (mica-vmm's main makes it before any
// thread runs under seccomp: reading them needs calls the API thread may not make).
const HostLimits& thisHost();

// Reads the limits from the host now (thisHost() keeps the first answer).
HostLimits probeHostLimits();

// How many fds a VM of this configuration holds at most, API connections included: a
// sum of what each part opens (see HostLimits.cpp), compared with RLIMIT_NOFILE.
uint64_t fdsNeeded(const VmConfig& config);

// Throws ConfigError naming the first field past a limit, with both figures:
// "cpus.max_vcpus: 1000000000 vCPUs, but this host's KVM allows at most 1024 (KVM_CAP_MAX_VCPUS)".
void checkHostLimits(const VmConfig& config, const HostLimits& limits);

}  // namespace mica
