// openImage(): the format class the configuration names, over the file it names, and
// the backing chain the image's metadata names, each link opened read-only.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <set>
#include <utility>

#include "DiskImage.h"
#include "Error.h"
#include "Qcow2Image.h"
#include "RawImage.h"
#include "VhdImage.h"
#include "VhdxImage.h"
#include "i18n.h"

namespace mica::block {

namespace {

constexpr std::pair<ImageType, const char*> kTypeNames[] = {
    {ImageType::Raw, "raw"}, {ImageType::Qcow2, "qcow2"}, {ImageType::Vhd, "vhd"}, {ImageType::Vhdx, "vhdx"}};

// Each file once: (device, inode) of every link opened so far.
using Seen = std::set<std::pair<dev_t, ino_t>>;

std::unique_ptr<DiskImage> openLink(const std::string& path, const ImageOptions& options, unsigned depth, Seen& seen)
{
    if (depth > kMaxBackingDepth)
        throw Error(path + ": " + _("the backing chain is deeper than ") + std::to_string(kMaxBackingDepth) +
                    _(" images"));
    // The loop check comes before the lock, which a loop would trip first.
    UniqueFd fd = options.handedFile ? options.handedFile(path) : UniqueFd();
    if (!fd)
        fd.reset(::open(path.c_str(), (options.readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd)
        throw systemError(path);
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0)
        throw systemError(path);
    if (!seen.emplace(st.st_dev, st.st_ino).second)
        throw Error(path + ": " + _("the backing chain comes back to this image (a loop)"));
    auto file = std::make_unique<RawImage>(path, options.readOnly, options.direct, options.shared, std::move(fd),
                                           !options.unlocked);
    // A backing file is read, never written: opened read-only with a shared lock, so
    // several overlays may share one base.
    ImageOptions backingOptions = options;
    backingOptions.readOnly = true;
    backingOptions.shared = false;
    backingOptions.unlocked = false;
    auto openBacking = [&](const BackingReference& backing) {
        backingOptions.type = backing.type;
        return openLink(backing.path, backingOptions, depth + 1, seen);
    };
    switch (options.type) {
    case ImageType::Raw:
        return file;
    case ImageType::Qcow2:
        return std::make_unique<Qcow2Image>(std::move(file), openBacking);
    case ImageType::Vhd:
        try {
            return std::make_unique<VhdImage>(std::move(file));
        } catch (const Error& e) {
            throw Error(path + ": " + e.what());
        }
    case ImageType::Vhdx:
        try {
            return std::make_unique<VhdxImage>(std::move(file));
        } catch (const Error& e) {
            throw Error(path + ": " + e.what());
        }
    }
    throw Error(path + ": " + _("this image type is not supported yet"));
}

}  // namespace

const char* imageTypeName(ImageType type)
{
    for (const auto& [t, name] : kTypeNames)
        if (t == type)
            return name;
    return "?";
}

std::optional<ImageType> imageTypeFromName(const std::string& name)
{
    for (const auto& [t, n] : kTypeNames)
        if (name == n)
            return t;
    return std::nullopt;
}

std::unique_ptr<DiskImage> openImage(const std::string& path, const ImageOptions& options)
{
    Seen seen;
    return openLink(path, options, 0, seen);
}

ImageInfo readImageInfo(const std::string& path, ImageType type)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw systemError(path);
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0)
        throw systemError(path);
    uint64_t fileSize = static_cast<uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode) && ::ioctl(fd.get(), BLKGETSIZE64, &fileSize) < 0)
        throw systemError(path + ": BLKGETSIZE64");
    ReadAt read = [&](uint64_t offset, void* data, size_t length) {
        auto* out = static_cast<uint8_t*>(data);
        while (length) {
            ssize_t n = ::pread(fd.get(), out, length, static_cast<off_t>(offset));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                throw systemError(path);
            if (n == 0) {  // past the end: zeroes, as RawImage reads them
                std::memset(out, 0, length);
                return;
            }
            out += n;
            offset += static_cast<uint64_t>(n);
            length -= static_cast<size_t>(n);
        }
    };
    try {
        switch (type) {
        case ImageType::Raw:
            return ImageInfo{fileSize, std::nullopt};
        case ImageType::Qcow2:
            return Qcow2Image::readInfo(path, read);
        case ImageType::Vhd:
            return VhdImage::readInfo(read, fileSize);
        case ImageType::Vhdx:
            return VhdxImage::readInfo(read, fileSize);
        }
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
    throw Error(path + ": " + _("this image type is not supported yet"));
}

}  // namespace mica::block
