#include "DiskImages.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

#include "ConfError.h"
#include "DiskImage.h"
#include "LiveDisk.h"
#include "Qcow2Create.h"
#include "Error.h"
#include "ManagerSupport.h"
#include "UniqueFd.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// The definition's format and vmm/block's are the same names (VmConfig's image_type).
block::ImageType imageType(conf::DiskFormat format)
{
    auto type = block::imageTypeFromName(conf::imageTypeName(format));
    if (!type)
        throw std::logic_error(std::string("vmm/block has no image type ") + conf::imageTypeName(format));
    return *type;
}

[[noreturn]] void failDisk(const conf::DiskDef& disk, const std::string& why)
{
    fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("disk '%1': %2"), {disk.target, why}));
}

}  // namespace

std::vector<conf::BackingStoreDef> readBackingChain(const conf::DiskDef& disk)
{
    // Each file once, by (device, inode): a loop, or a link that is the image itself
    // under another name, would otherwise be followed to the depth limit.
    std::set<std::pair<dev_t, ino_t>> seen;
    auto visit = [&](const std::string& path) {
        struct stat st{};
        if (::stat(path.c_str(), &st) < 0) {
            int err = errno;
            failDisk(disk, systemError(path, err).what());
        }
        if (!seen.emplace(st.st_dev, st.st_ino).second)
            failDisk(disk, conf::subst(_("%1: the backing chain comes back to this image (a loop)"), {path}));
        return S_ISBLK(st.st_mode) ? conf::BackingStoreDef::Type::Block : conf::BackingStoreDef::Type::File;
    };
    auto read = [&](const std::string& path, block::ImageType type) {
        try {
            return block::readImageInfo(path, type);
        } catch (const Error& e) {
            failDisk(disk, e.what());
        }
    };
    visit(disk.source);
    block::ImageInfo info = read(disk.source, imageType(disk.format));
    std::vector<conf::BackingStoreDef> chain;
    while (info.backing) {
        if (chain.size() == block::kMaxBackingDepth)
            failDisk(disk, conf::subst(_("%1: the backing chain is deeper than %2 images"),
                                       {disk.source, std::to_string(block::kMaxBackingDepth)}));
        block::BackingReference next = *info.backing;
        // VHDX: mica-vmm reads it, but libvirt has no name to show it by.
        auto format = conf::diskFormatFromImageType(block::imageTypeName(next.type));
        if (!format)
            failDisk(disk, conf::subst(_("%1: a backing file of format %2, which libvirt's domain XML cannot name"),
                                       {next.path, block::imageTypeName(next.type)}));
        chain.push_back({visit(next.path), *format, next.path});
        info = read(next.path, next.type);
    }
    return chain;
}

std::vector<std::string> backingFiles(const conf::DomainDef& def)
{
    std::vector<std::string> files;
    for (const auto& disk : def.disks)
        if (disk.backingChain)
            for (const auto& link : *disk.backingChain)
                files.push_back(link.path);
    return files;
}

BlockInfo readBlockInfo(const conf::DiskDef& disk)
{
    UniqueFd fd(::open(disk.source.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) < 0) {
        int err = errno;
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {disk.target, systemError(disk.source, err).what()}));
    }
    BlockInfo info;
    if (S_ISBLK(st.st_mode)) {
        // A device is all allocated: its size three times, as libvirt reports it.
        if (::ioctl(fd.get(), BLKGETSIZE64, &info.physical) < 0) {
            int err = errno;
            fail(VIR_ERR_OPERATION_FAILED,
                 conf::subst(_("disk '%1': %2"), {disk.target, systemError(disk.source + ": BLKGETSIZE64", err).what()}));
        }
        info.allocation = info.physical;
    } else {
        info.physical = static_cast<std::uint64_t>(st.st_size);
        info.allocation = static_cast<std::uint64_t>(st.st_blocks) * 512;   // st_blocks counts 512-byte units
    }
    try {
        info.capacity = block::readImageInfo(disk.source, imageType(disk.format)).virtualSize;
    } catch (const Error& e) {
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {disk.target, e.what()}));
    }
    return info;
}

void writeOverlay(const conf::DiskDef& disk, int fd, const std::string& path)
{
    try {
        block::ImageType type = imageType(disk.format);
        std::uint64_t size = block::readImageInfo(disk.source, type).virtualSize;
        block::createQcow2Overlay(fd, path, size, disk.source, type);
    } catch (const Error& e) {
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {disk.target, e.what()}));
    }
}

void commitOffline(const conf::DiskDef& disk, const std::string& base)
{
    try {
        // Before the disk: its job may still tell of its end while the disk closes.
        std::mutex mutex;
        std::condition_variable changed;
        std::string event, why;
        block::ImageOptions options;
        options.type = imageType(disk.format);
        block::LiveDisk live(block::openImage(disk.source, options), options.type,
                             block::LiveDisk::Options{options, "commit", [] {}});
        std::optional<block::LiveDisk::Link> link;
        for (const auto& l : live.chain())
            if (l.path == base && l.image != &live.direct())
                link = l;
        if (!link)
            throw Error(base + ": " + _("not below the disk's top in its chain"));
        UniqueFd baseFile(::open(base.c_str(), O_RDWR | O_CLOEXEC));
        if (!baseFile)
            throw systemError(base);
        live.startCommit(*link, std::move(baseFile), [&](const std::string& e, const std::string& error) {
            std::lock_guard lock(mutex);
            event = e;
            why = error;
            changed.notify_all();
        });
        {
            std::unique_lock lock(mutex);
            changed.wait(lock, [&] { return !event.empty(); });
            if (event != "block-job-ready")
                throw Error(base + ": " + event + (why.empty() ? "" : ": " + why));
        }
        live.completeJob();
        live.flush();
    } catch (const Error& e) {
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {disk.target, e.what()}));
    }
}

}  // namespace mica::domain
