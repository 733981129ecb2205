// The CPUID a vCPU sees: what KVM supports on this host, with the hypervisor bit set, the
// APIC ids and topology leaves describing sockets x cores x threads, and the TSC-deadline
// timer when KVM emulates it (KVM_CAP_TSC_DEADLINE_TIMER: KVM does not list it itself).
#pragma once

#include <vector>

#include "KvmHeaders.h"

namespace mica::x86 {

struct CpuTopology {
    unsigned sockets = 1, cores = 1, threads = 1;  // cores per socket, threads per core
};

std::vector<kvm_cpuid_entry2> guestCpuid(const std::vector<kvm_cpuid_entry2>& supported, unsigned apicId,
                                         const CpuTopology& topology, bool tscDeadline);

}  // namespace mica::x86
