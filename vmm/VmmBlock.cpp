// The Vmm's live block operations: disk-only snapshots and commit jobs on a running
// disk's chain (block::LiveDisk), and the VM configuration kept in step, so vm.info,
// a snapshot, a restore and a reboot see each disk's chain as it now is.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "Vmm.h"
#include "i18n.h"

namespace mica {

namespace {

std::shared_ptr<const UniqueFd> keep(const UniqueFd& fd, const std::string& path)
{
    UniqueFd copy(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    if (!copy)
        throw systemError(path + ": dup");
    return std::make_shared<const UniqueFd>(std::move(copy));
}

// The file at `path` is now `fd` for whatever opens it again (a reboot).
void handFile(VmConfig& config, const std::string& path, std::shared_ptr<const UniqueFd> fd)
{
    config.handedFds.push_back(std::move(fd));
    config.handedFiles[path] = static_cast<unsigned>(config.handedFds.size() - 1);
}

}  // namespace

block::LiveDisk& Vmm::liveDisk(const std::string& id)
{
    diskConfig(id);  // 404 for a disk the VM does not have
    return running().liveDisk(id);
}

DiskConfig& Vmm::diskConfig(const std::string& id)
{
    for (auto& disk : config_->disks)
        if (disk.id == id)
            return disk;
    throw ApiError(404, _("no disk with id '") + id + "'");
}

void Vmm::diskSnapshot(const std::string& id, const std::string& overlayPath, UniqueFd overlay)
{
    std::lock_guard lock(mutex_);
    block::LiveDisk& disk = liveDisk(id);
    DiskConfig& config = diskConfig(id);
    std::string prefix = "disk '" + id + "': ";
    if (config.readOnly)
        throw ApiError(409, prefix + _("a read-only disk takes no snapshot"));
    if (disk.jobRunning())
        throw ApiError(409, prefix + _("a block job runs on it: complete or cancel it first"));
    if (config.ioEngine == block::IoEngineKind::IoUring)
        throw ApiError(409, prefix + _("io_engine=io_uring serves raw images only, and the overlay would be qcow2"));
    // The overlay's header names the top by this path, which must not depend on the
    // VMM's working directory.
    if (!config.path.starts_with("/"))
        throw ApiError(409, prefix + _("its path is relative; a snapshot needs it absolute: ") + config.path);
    if (overlayPath.empty() || overlayPath.find('\0') != std::string::npos)
        throw ApiError(400, _("overlay: expected a path"));
    std::shared_ptr<const UniqueFd> handed;
    if (overlay) {
        struct stat st{};
        if (::fstat(overlay.get(), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != 0 ||
            (::fcntl(overlay.get(), F_GETFL) & O_ACCMODE) != O_RDWR)
            throw ApiError(400, overlayPath + ": " + _("the overlay handed over is not an empty file open for reading and writing"));
        handed = keep(overlay, overlayPath);
    } else {
        overlay.reset(::open(overlayPath.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!overlay && errno == EEXIST)
            throw ApiError(409, overlayPath + ": " + _("exists already (an overlay is a new file)"));
        if (!overlay)
            throw ApiError(400, systemError(overlayPath).what());
    }
    try {
        running().disk(id).changeImage([&] { disk.snapshot(overlayPath, std::move(overlay), config.path); });
    } catch (const Error& e) {
        if (!handed)
            ::unlink(overlayPath.c_str());
        throw Error(prefix + e.what());
    }
    config.path = overlayPath;
    config.imageType = block::ImageType::Qcow2;
    if (handed)
        handFile(*config_, overlayPath, std::move(handed));
    events_.emit("disk-snapshot", {{"id", id}, {"overlay", overlayPath}});
}

void Vmm::blockCommit(const std::string& id, const std::optional<std::string>& base, UniqueFd baseFile)
{
    std::lock_guard lock(mutex_);
    block::LiveDisk& disk = liveDisk(id);
    std::string prefix = "disk '" + id + "': ";
    if (diskConfig(id).readOnly)
        throw ApiError(409, prefix + _("a read-only disk cannot be committed into its base"));
    if (disk.jobRunning())
        throw ApiError(409, prefix + _("a block job runs on it already"));
    auto chain = disk.chain();
    if (chain.size() < 2)
        throw ApiError(409, prefix + _("it has no image below its top to commit into"));
    auto link = chain.begin() + 1;
    if (base)
        link = std::find_if(link, chain.end(), [&](const auto& l) { return l.path == *base; });
    if (link == chain.end())
        throw ApiError(400, prefix + _("base: not an image below the disk's top: ") + *base);
    std::shared_ptr<const UniqueFd> handed;
    if (baseFile) {
        handed = keep(baseFile, link->path);
    } else {
        baseFile.reset(::open(link->path.c_str(), O_RDWR | O_CLOEXEC));
        if (!baseFile)
            throw ApiError(400, prefix + systemError(link->path).what());
    }
    try {
        disk.startCommit(*link, std::move(baseFile), [this, id](const std::string& event, const std::string& error) {
            nlohmann::json properties = {{"id", id}, {"type", "commit"}};
            if (!error.empty())
                properties["error"] = error;
            events_.emit(event, properties);
        });
    } catch (const Error& e) {
        throw ApiError(400, prefix + e.what());
    }
    if (handed)
        commitBaseFiles_[id] = std::move(handed);
    else
        commitBaseFiles_.erase(id);
}

nlohmann::json Vmm::blockJobs()
{
    std::lock_guard lock(mutex_);
    auto jobs = nlohmann::json::array();
    for (const auto& config : config_->disks) {
        auto status = liveDisk(config.id).jobStatus();
        if (!status)
            continue;
        nlohmann::json job = {{"id", config.id}, {"type", "commit"}, {"cur", status->cur}, {"end", status->end},
                              {"ready", status->ready}};
        if (!status->error.empty())
            job["error"] = status->error;
        jobs.push_back(job);
    }
    return jobs;
}

void Vmm::blockJobComplete(const std::string& id)
{
    std::lock_guard lock(mutex_);
    block::LiveDisk& disk = liveDisk(id);
    if (!disk.jobStatus())
        throw ApiError(404, "disk '" + id + "': " + _("no block job runs on it"));
    if (!disk.jobStatus()->error.empty())
        throw ApiError(409, "disk '" + id + "': " + _("the block job failed: ") + disk.jobStatus()->error);
    if (!disk.jobStatus()->ready)
        throw ApiError(409, "disk '" + id + "': " + _("the block job is not ready"));
    running().disk(id).changeImage([&] { disk.completeJob(); });
    DiskConfig& config = diskConfig(id);
    config.path = disk.path();
    config.imageType = disk.topType();
    if (auto it = commitBaseFiles_.find(id); it != commitBaseFiles_.end()) {
        handFile(*config_, config.path, std::move(it->second));
        commitBaseFiles_.erase(it);
    }
}

void Vmm::blockJobCancel(const std::string& id)
{
    std::lock_guard lock(mutex_);
    block::LiveDisk& disk = liveDisk(id);
    if (!disk.jobStatus())
        throw ApiError(404, "disk '" + id + "': " + _("no block job runs on it"));
    disk.cancelJob();
    commitBaseFiles_.erase(id);
}

}  // namespace mica
