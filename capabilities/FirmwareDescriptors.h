// QEMU firmware descriptor files (docs/interop/firmware.json), found where libvirt looks
// for them, and which of them mica-vmm can actually boot.
#pragma once

#include <string>
#include <vector>

#include "HostRoot.h"
#include "VmmFeatures.h"

namespace mica::caps {

struct FirmwareDescriptor {
    std::string file;  // host path of the descriptor
    std::vector<std::string> interfaces;  // uefi, bios, ...
    std::string device;                   // flash, memory, kernel
    std::string executable;               // the firmware image (host path)
    struct Target {
        std::string architecture;
        std::vector<std::string> machines;  // glob patterns
    };
    std::vector<Target> targets;
    std::vector<std::string> features;
    bool usable = false;  // firmwareUsable() for mica's arch and machine, set by the probe
};

struct FirmwareScan {
    std::vector<FirmwareDescriptor> descriptors;  // sorted by file name, masked ones removed
    std::vector<std::string> directories;         // searched, for change detection
    std::vector<std::string> files;               // every descriptor file seen
    std::vector<std::string> problems;            // unreadable or malformed descriptors
};

// Parses one descriptor's JSON; throws (std::exception) naming what is wrong. `file` is
// only recorded in the result.
FirmwareDescriptor parseFirmwareDescriptor(const std::string& file, const std::string& json);

// The directories scanFirmware searches, most general first.
std::vector<std::string> firmwareDirectories(const HostRoot& root);

// Searches /usr/share/qemu/firmware, /etc/qemu/firmware and, for an unprivileged user on
// the real root, $XDG_CONFIG_HOME/qemu/firmware. Same-named files in a later directory
// replace earlier ones; an empty file masks its name.
FirmwareScan scanFirmware(const HostRoot& root);

// Whether mica-vmm can boot this firmware on `arch`/`machine`: it loads the mapping, the
// image exists, and nothing it requires (SMM for secure boot) is missing from the VMM.
bool firmwareUsable(const FirmwareDescriptor& fw, const VmmFeatures& vmm, const HostRoot& root,
                    const std::string& arch, const std::string& machine);

}  // namespace mica::caps
