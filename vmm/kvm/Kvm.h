// The KVM system handle: /dev/kvm, what it can do, and the VMs it creates.
//
// vmm/kvm/ is the only code in mica-vmm that issues KVM ioctls; everything above it
// works with these RAII types.
#pragma once

#include "KvmHeaders.h"

#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::kvm {

class Vm;

inline constexpr char kDevice[] = "/dev/kvm";

class Kvm {
public:
    // Opens the device (default /dev/kvm) and checks the stable API version (12).
    // `opened`: the caller's fd on `path` (VmConfig::handedFile), used instead of opening it.
    explicit Kvm(const std::string& path = kDevice, UniqueFd opened = UniqueFd());

    int apiVersion() const;
    // KVM_CHECK_EXTENSION on the system fd: 0 when absent, else a capability-specific value.
    int checkExtension(long cap) const;
    // Size of the kvm_run area each vCPU fd maps.
    size_t vcpuMmapSize() const;
    // KVM_GET_SUPPORTED_CPUID: every leaf/subleaf KVM can offer a guest on this host.
    std::vector<kvm_cpuid_entry2> supportedCpuid() const;
    // MSR indices KVM saves and restores for a vCPU (KVM_GET_MSR_INDEX_LIST).
    std::vector<uint32_t> msrIndexList() const;
    // The limit a VM's vCPU count may reach (KVM_CAP_MAX_VCPUS, else KVM_CAP_NR_VCPUS).
    unsigned maxVcpus() const;

    Vm createVm() const;
    int fd() const { return fd_.get(); }

private:
    UniqueFd fd_;
};

}  // namespace mica::kvm
