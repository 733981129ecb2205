// One probe of everything the capabilities documents describe: the host (through a
// HostRoot, so tests can use a fake tree) and mica-vmm (through its --features answer).
#pragma once

#include <string>
#include <vector>

#include "CpuMap.h"
#include "CpuidModel.h"
#include "FirmwareDescriptors.h"
#include "HostRoot.h"
#include "HostTopology.h"
#include "KvmProbe.h"
#include "SevProbe.h"
#include "SgxProbe.h"
#include "VmmFeatures.h"

namespace mica::caps {

// Mica runs x86_64 guests on x86_64 hosts only, with one machine type.
inline constexpr const char* kArch = "x86_64";
inline constexpr const char* kMachine = "mica";

struct HostInfo {
    std::string uuid;
    KvmInfo kvm;
    DecodedCpu cpu;  // from KVM's CPUID; from /proc/cpuinfo without KVM
    HostTopology topology;
    bool suspendMem = false, suspendDisk = false;
    bool iommu = false;  // /sys/kernel/iommu_groups has groups
    bool vfio = false;   // ... and /dev/vfio/vfio exists
    SevInfo sev;
    SgxInfo sgx;
    FirmwareScan firmware;
    VmmFeatures vmm;
    std::vector<CustomModel> customModels;
};

struct ProbeSources {
    std::string root = "/";
    std::string vmmPath;          // resolved VMM path (findVmm)
    std::string vmmFeaturesFile;  // tests: recorded --features answer instead of running it
    std::string cpuMapDir = CpuMap::defaultDir;
};

// Throws std::runtime_error only when libvirt's CPU map cannot be read; every host
// shortfall is recorded in HostInfo instead.
HostInfo probeHost(const ProbeSources& src);

}  // namespace mica::caps
