// Names a CPU the way libvirt does: vendor, the closest cpu_map model, and the features
// that differ from it, decoded from CPUID data.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CpuMap.h"
#include "Cpuid.h"

namespace mica::caps {

struct DecodedCpu {
    std::string vendor;                 // cpu_map vendor name ("AMD"), "" if unknown
    std::string model;                  // closest cpu_map model, "" when none fits
    CpuidData::Signature signature;
    std::vector<std::string> present;   // every cpu_map feature the CPUID data has
    std::vector<std::string> extra;     // present but not part of `model`
    std::vector<std::string> missing;   // part of `model` but absent
};

// Like libvirt's x86 decoder: only models of the host's vendor that allow host decoding
// compete; a model whose signature matches the CPU beats one that does not; otherwise the
// fewest differences win, with each missing feature weighing more than the one before
// (so "model minus three features" loses to "older model plus a few"). Ties go to the
// newer model.
DecodedCpu decodeCpu(const CpuMap& map, const CpuidData& data);
// The same from already named features (e.g. /proc/cpuinfo's flags when there is no KVM).
DecodedCpu decodeFeatures(const CpuMap& map, const std::string& vendor, CpuidData::Signature signature,
                          std::vector<std::string> present);

struct CustomModel {
    std::string name;
    std::string vendor;  // "unknown" when the model names none, as libvirt writes it
    bool usable = false;
};
// Every x86 model of the map, usable when the CPUID data has all of its features.
std::vector<CustomModel> customModels(const CpuMap& map, const std::vector<std::string>& present);

}  // namespace mica::caps
