// What mica-vmm says it can do (`mica-vmm --features`), so the capabilities documents
// never claim more than the VMM has. See README.md for the names this file understands.
#pragma once

#include <set>
#include <string>

namespace mica::caps {

struct VmmFeatures {
    bool present = false;  // the VMM ran and answered; false: claim nothing VMM-dependent
    std::string path;      // the binary (as found or given), even when it is missing
    std::string error;     // why it is not present
    std::string version;
    std::string arch;
    unsigned maxVcpus = 0;
    std::set<std::string> boot;         // bzimage, pvh, firmware, ...
    std::set<std::string> firmware;     // firmware descriptor mapping devices it loads: memory, flash, kernel
    std::set<std::string> devices;      // virtio-blk, virtio-net, vfio-pci, virtio-fs, ...
    std::set<std::string> diskFormats;  // raw, qcow2, ...
    std::set<std::string> features;     // hugepages, iothreads, memfd, sev, sgx, cpu-models, ...

    bool hasDevice(const std::string& d) const { return present && devices.count(d); }
    bool hasFeature(const std::string& f) const { return present && features.count(f); }
};

// Throws std::runtime_error naming the field that is wrong.
VmmFeatures parseVmmFeatures(const std::string& json);

// Runs `PATH --features` (5 s limit) and parses its answer; failures land in .error.
VmmFeatures queryVmmFeatures(const std::string& path);
// Reads a recorded answer (tests' vmm-features.json); `path` is what the VMM is called.
VmmFeatures loadVmmFeatures(const std::string& path, const std::string& jsonFile);

// The VMM binary: `explicitPath`, else $MICA_VMM, else vmm/mica-vmm of the build tree the
// running program lives in, else the installed libexecdir copy.
std::string findVmm(const std::string& explicitPath);

}  // namespace mica::caps
