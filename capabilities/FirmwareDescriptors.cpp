#include "FirmwareDescriptors.h"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace mica::caps {

using nlohmann::json;

FirmwareDescriptor parseFirmwareDescriptor(const std::string& file, const std::string& text)
{
    json doc = json::parse(text);
    FirmwareDescriptor fw;
    fw.file = file;
    for (const auto& i : doc.at("interface-types"))
        fw.interfaces.push_back(i.get<std::string>());
    const json& mapping = doc.at("mapping");
    fw.device = mapping.at("device").get<std::string>();
    if (fw.device == "flash") {
        // Stateless and combined images have no separate variable store; split (the
        // default) does. We only need the executable either way.
        fw.executable = mapping.at("executable").at("filename").get<std::string>();
    } else if (fw.device == "memory" || fw.device == "kernel") {
        fw.executable = mapping.at("filename").get<std::string>();
    } else {
        throw std::runtime_error("unknown mapping device '" + fw.device + "'");
    }
    for (const auto& t : doc.at("targets")) {
        FirmwareDescriptor::Target target;
        target.architecture = t.at("architecture").get<std::string>();
        for (const auto& m : t.at("machines"))
            target.machines.push_back(m.get<std::string>());
        fw.targets.push_back(std::move(target));
    }
    if (auto it = doc.find("features"); it != doc.end())
        for (const auto& f : *it)
            fw.features.push_back(f.get<std::string>());
    return fw;
}

std::vector<std::string> firmwareDirectories(const HostRoot& root)
{
    std::vector<std::string> dirs = {"/usr/share/qemu/firmware", "/etc/qemu/firmware"};
    // libvirt's privileged daemon deliberately ignores root's home; so do we, and a fake
    // tree never picks up the home of whoever runs the tests.
    if (root.isRealRoot() && ::geteuid() != 0) {
        const char* xdg = ::getenv("XDG_CONFIG_HOME");
        const char* home = ::getenv("HOME");
        if (xdg && *xdg)
            dirs.push_back(std::string(xdg) + "/qemu/firmware");
        else if (home && *home)
            dirs.push_back(std::string(home) + "/.config/qemu/firmware");
    }
    return dirs;
}

FirmwareScan scanFirmware(const HostRoot& root)
{
    FirmwareScan scan;
    scan.directories = firmwareDirectories(root);
    std::map<std::string, std::string> byName;  // sorted by bare name, as the spec orders them
    for (const auto& dir : scan.directories)
        for (const auto& name : root.list(dir)) {
            auto st = root.stat(dir + "/" + name);
            if (!st || !S_ISREG(st->st_mode))
                continue;
            byName[name] = dir + "/" + name;
            scan.files.push_back(dir + "/" + name);
        }
    for (const auto& [name, file] : byName) {
        auto text = root.read(file, 1 << 20);
        if (!text) {
            scan.problems.push_back(file + ": cannot read");
            continue;
        }
        if (text->empty())
            continue;  // masks the same name in a less specific directory
        try {
            scan.descriptors.push_back(parseFirmwareDescriptor(file, *text));
        } catch (const std::exception& e) {
            scan.problems.push_back(file + ": " + e.what());
        }
    }
    return scan;
}

bool firmwareUsable(const FirmwareDescriptor& fw, const VmmFeatures& vmm, const HostRoot& root,
                    const std::string& arch, const std::string& machine)
{
    if (!vmm.present || !vmm.firmware.count(fw.device))
        return false;
    auto has = [](const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); };
    if (!has(fw.interfaces, "uefi") && !has(fw.interfaces, "bios"))
        return false;
    if (has(fw.features, "requires-smm") && !vmm.hasFeature("smm"))
        return false;
    bool targetMatch = false;
    for (const auto& t : fw.targets) {
        if (t.architecture != arch)
            continue;
        for (const auto& m : t.machines)
            if (::fnmatch(m.c_str(), machine.c_str(), 0) == 0)
                targetMatch = true;
    }
    if (!targetMatch)
        return false;
    auto st = root.stat(fw.executable);
    return st && S_ISREG(st->st_mode);
}

}  // namespace mica::caps
