// What /dev/kvm answers: API version, vCPU limits and the CPUID KVM can give guests.
//
// On a real host <root>/dev/kvm is the character device and we ask it with ioctls. In a
// fake host tree (tests/data/domcaps/HOST/) dev/kvm is a regular file holding recorded
// answers as JSON (the format kvmInfoToJson writes, so `mica-domcaps --dump-kvm` on a
// real machine records a new fixture). A missing dev/kvm means no KVM.
#pragma once

#include <string>

#include "Cpuid.h"
#include "HostRoot.h"

namespace mica::caps {

struct KvmInfo {
    bool available = false;
    std::string error;      // why it is not available (for diagnostics, never in XML)
    bool recorded = false;  // answers came from a fixture, not ioctls
    int apiVersion = 0;
    int nrVcpus = 0;        // KVM_CAP_NR_VCPUS (recommended)
    int maxVcpus = 0;       // KVM_CAP_MAX_VCPUS (hard limit)
    CpuidData supported;    // KVM_GET_SUPPORTED_CPUID
    CpuidData host;         // the cpuid instruction on the host, for SEV/SGX leaves

    // KVM's vCPU limit the way libvirt computes it (virHostCPUGetKVMMaxVCPUs):
    // MAX_VCPUS, else NR_VCPUS, else the 4 the kernel documentation promises.
    int vcpuLimit() const
    {
        if (maxVcpus > 0)
            return maxVcpus;
        if (nrVcpus > 0)
            return nrVcpus;
        return 4;
    }
    // Host leaves, falling back to what KVM supports when the host leaf was not recorded.
    CpuidLeaf hostLeaf(uint32_t function, uint32_t index = 0) const
    {
        if (const CpuidLeaf* l = host.find(function, index))
            return *l;
        return supported.get(function, index);
    }
};

KvmInfo probeKvm(const HostRoot& root);
// Throws std::runtime_error naming what is wrong with the document.
KvmInfo parseRecordedKvm(const std::string& json);
std::string kvmInfoToJson(const KvmInfo& info);

}  // namespace mica::caps
