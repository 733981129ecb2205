// libvirt's x86 CPU map (/usr/share/libvirt/cpu_map): vendors, the CPUID bits of each
// named feature, and the named models. Reading libvirt's own file keeps our feature and
// model names exactly the ones libvirt clients know.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "Cpuid.h"

namespace mica::caps {

struct CpuFeatureBits {
    uint32_t function = 0, index = 0;
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;  // every set bit must be set in the leaf
};

struct CpuFeatureDef {
    std::string name;
    std::vector<CpuFeatureBits> cpuid;  // empty for MSR-only features, which we do not probe
    bool migratable = true;
    std::vector<std::string> aliases;  // other spellings (QEMU's, the kernel's)
};

struct CpuModelDef {
    std::string name;
    std::string vendor;  // "" when the model names none
    struct Signature {
        unsigned family = 0, model = 0;
    };
    std::vector<Signature> signatures;
    std::vector<std::string> features;
    bool decodeHost = true;
};

struct CpuVendorDef {
    std::string name;    // "AMD"
    std::string string;  // "AuthenticAMD"
};

class CpuMap {
public:
    static constexpr const char* defaultDir = "/usr/share/libvirt/cpu_map";
    // Throws std::runtime_error naming the file that could not be read or parsed.
    static CpuMap load(const std::string& dir = defaultDir);

    const std::vector<CpuVendorDef>& vendors() const { return vendors_; }
    const std::vector<CpuFeatureDef>& features() const { return features_; }
    const std::vector<CpuModelDef>& models() const { return models_; }  // oldest first
    const CpuFeatureDef* feature(const std::string& name) const;
    // A /proc/cpuinfo flag ("sse4_1", "md_clear") as the map names it ("sse4.1", "md-clear").
    const CpuFeatureDef* featureByKernelName(const std::string& flag) const;
    std::string vendorName(const std::string& cpuidVendorString) const;

    // Names of the CPUID-defined features whose bits are all set in `data`, in map order.
    std::vector<std::string> presentFeatures(const CpuidData& data) const;

private:
    std::vector<CpuVendorDef> vendors_;
    std::vector<CpuFeatureDef> features_;
    std::vector<CpuModelDef> models_;
};

}  // namespace mica::caps
