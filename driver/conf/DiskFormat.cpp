#include "DiskFormat.h"

namespace mica::conf {

namespace {

struct FormatNames {
    DiskFormat format;
    const char* libvirt;
    const char* imageType;
};

// libvirt calls VHD "vpc" (QEMU's driver name for Virtual PC images).
constexpr FormatNames kFormats[] = {
    {DiskFormat::Raw, "raw", "raw"},
    {DiskFormat::Qcow2, "qcow2", "qcow2"},
    {DiskFormat::Vpc, "vpc", "vhd"},
};

const FormatNames& namesOf(DiskFormat format)
{
    for (const auto& f : kFormats)
        if (f.format == format)
            return f;
    return kFormats[0];
}

}  // namespace

const char* diskFormatName(DiskFormat format)
{
    return namesOf(format).libvirt;
}

const char* imageTypeName(DiskFormat format)
{
    return namesOf(format).imageType;
}

std::optional<DiskFormat> diskFormatFromName(const std::string& name)
{
    for (const auto& f : kFormats)
        if (name == f.libvirt)
            return f.format;
    return std::nullopt;
}

std::optional<DiskFormat> diskFormatFromImageType(const std::string& name)
{
    for (const auto& f : kFormats)
        if (name == f.imageType)
            return f.format;
    return std::nullopt;
}

}  // namespace mica::conf
