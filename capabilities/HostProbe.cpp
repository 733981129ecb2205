#include "HostProbe.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstdio>
#include <sstream>

namespace mica::caps {

namespace {

// libvirt takes the SMBIOS UUID; without it (containers, unreadable sysfs) machine-id
// still names the host stably.
std::string hostUuid(const HostRoot& root)
{
    auto isUuid = [](const std::string& s) {
        if (s.size() != 36)
            return false;
        for (std::size_t i = 0; i < s.size(); ++i) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i])))
                return false;
        }
        return s != "00000000-0000-0000-0000-000000000000" && s != "ffffffff-ffff-ffff-ffff-ffffffffffff" &&
               s != "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";
    };
    if (auto u = root.readLine("/sys/class/dmi/id/product_uuid"); u && isUuid(*u)) {
        std::string l = *u;
        for (auto& c : l)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return l;
    }
    if (auto id = root.readLine("/etc/machine-id"); id && id->size() == 32)
        return id->substr(0, 8) + "-" + id->substr(8, 4) + "-" + id->substr(12, 4) + "-" + id->substr(16, 4) + "-" +
               id->substr(20);
    return {};
}

// Without /dev/kvm the kernel's view of the CPU (/proc/cpuinfo of the first CPU) still
// names vendor, signature and flags, so the host document can describe the CPU anyway.
DecodedCpu cpuFromCpuinfo(const HostRoot& root, const CpuMap& map)
{
    std::istringstream in(root.read("/proc/cpuinfo", 256 * 1024).value_or(""));
    std::string line, vendor;
    CpuidData::Signature sig;
    std::vector<std::string> present;
    while (std::getline(in, line) && !line.empty()) {
        auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
        if (key == "vendor_id") {
            vendor = map.vendorName(value);
        } else if (key == "cpu family") {
            sig.family = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        } else if (key == "model") {
            sig.model = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        } else if (key == "stepping") {
            sig.stepping = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        } else if (key == "flags") {
            std::istringstream flags(value);
            for (std::string f; flags >> f;)
                if (const CpuFeatureDef* def = map.featureByKernelName(f); def && !def->cpuid.empty())
                    present.push_back(def->name);
        }
    }
    if (present.empty()) {
        DecodedCpu cpu;
        cpu.vendor = vendor;
        return cpu;  // no flags, no model: a guess would be worse than nothing
    }
    // Keep cpu_map order so output does not depend on the kernel's flag order.
    std::vector<std::string> ordered;
    for (const auto& f : map.features())
        if (std::find(present.begin(), present.end(), f.name) != present.end())
            ordered.push_back(f.name);
    return decodeFeatures(map, vendor, sig, std::move(ordered));
}

}  // namespace

HostInfo probeHost(const ProbeSources& src)
{
    const HostRoot root(src.root);
    const CpuMap map = CpuMap::load(src.cpuMapDir);
    HostInfo h;
    h.uuid = hostUuid(root);
    h.kvm = probeKvm(root);
    if (h.kvm.available) {
        h.cpu = decodeCpu(map, h.kvm.supported);
        h.customModels = customModels(map, h.cpu.present);
    } else {
        h.cpu = cpuFromCpuinfo(root, map);
    }
    h.topology = probeTopology(root);
    auto states = root.readLine("/sys/power/state").value_or("");
    std::istringstream words(states);
    for (std::string w; words >> w;) {
        h.suspendMem |= w == "mem";
        h.suspendDisk |= w == "disk";
    }
    h.iommu = !root.list("/sys/kernel/iommu_groups").empty();
    h.vfio = h.iommu && root.exists("/dev/vfio/vfio");
    h.sev = probeSev(root, h.kvm);
    h.sgx = probeSgx(root, h.kvm);
    h.firmware = scanFirmware(root);
    h.vmm = src.vmmFeaturesFile.empty() ? queryVmmFeatures(src.vmmPath)
                                        : loadVmmFeatures(src.vmmPath, src.vmmFeaturesFile);
    // A VMM built for another architecture cannot run here; it serves nothing.
    if (h.vmm.present && h.vmm.arch != kArch) {
        h.vmm.present = false;
        h.vmm.error = h.vmm.path + ": built for " + h.vmm.arch + ", not " + kArch;
    }
    for (auto& fw : h.firmware.descriptors)
        fw.usable = firmwareUsable(fw, h.vmm, root, kArch, kMachine);
    return h;
}

}  // namespace mica::caps
