// A disk's image format: libvirt's names for it (<driver type>, <format type>) and
// VmConfig's (image_type), in one table. The format is always stated or defaulted to
// raw, never probed from the file (design.md). VHDX is not here although mica-vmm reads
// it: libvirt has no name for it (virStorageFileFormat, storagecommon.rng), so domain
// XML cannot ask for it.
#pragma once

#include <optional>
#include <string>

namespace mica::conf {

enum class DiskFormat { Raw, Qcow2, Vpc };

// libvirt's name: "raw", "qcow2", "vpc" (VHD).
const char* diskFormatName(DiskFormat format);
std::optional<DiskFormat> diskFormatFromName(const std::string& name);

// VmConfig's image_type (mica-vmm's names): "raw", "qcow2", "vhd".
const char* imageTypeName(DiskFormat format);
std::optional<DiskFormat> diskFormatFromImageType(const std::string& name);

}  // namespace mica::conf
