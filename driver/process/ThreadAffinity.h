// Host CPU affinity of a VMM's threads, found by their names (design.md: mica-vmm names
// its threads vcpu0, vcpu1, ..., _disk0, api, devices): what emulatorpin sets on every
// thread but the vCPUs', as libvirt does for Cloud Hypervisor.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>

namespace mica::process {

// Every thread of `pid` whose name does not start with "vcpu" runs on `cpus` (or on any
// CPU this daemon may use, for an empty set). Throws std::runtime_error naming the
// thread when the kernel refuses.
void pinEmulatorThreads(pid_t pid, const std::set<unsigned>& cpus);

// The host CPUs this daemon's own thread may run on: what "not pinned" means.
std::set<unsigned> usableCpus();

}  // namespace mica::process
