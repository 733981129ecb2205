#include "LiveDisk.h"

#include <fcntl.h>
#include <sys/file.h>

#include <iostream>

#include "CommitJob.h"
#include "Error.h"
#include "Qcow2Create.h"
#include "Qcow2Image.h"
#include "RawImage.h"
#include "i18n.h"

namespace mica::block {

void LiveDisk::Gate::lock_shared()
{
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !changing_ && !waiting_; });
    ++active_;
}

void LiveDisk::Gate::unlock_shared()
{
    std::lock_guard lock(mutex_);
    if (--active_ == 0)
        changed_.notify_all();
}

void LiveDisk::Gate::lock()
{
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.wait(lock, [this] { return !changing_ && !active_; });
    --waiting_;
    changing_ = true;
}

void LiveDisk::Gate::unlock()
{
    std::lock_guard lock(mutex_);
    changing_ = false;
    changed_.notify_all();
}

LiveDisk::LiveDisk(std::unique_ptr<DiskImage> top, ImageType topType, Options options)
    : options_(std::move(options)), top_(std::move(top)), topType_(topType)
{
}

LiveDisk::~LiveDisk()
{
    job_.reset();
}

uint64_t LiveDisk::size() const
{
    std::shared_lock lock(chainMutex_);
    return top_->size();
}

bool LiveDisk::readOnly() const
{
    std::shared_lock lock(chainMutex_);
    return top_->readOnly();
}

const std::string& LiveDisk::path() const
{
    std::shared_lock lock(chainMutex_);
    return top_->path();
}

ImageType LiveDisk::topType() const
{
    std::shared_lock lock(chainMutex_);
    return topType_;
}

void LiveDisk::readv(uint64_t offset, const std::vector<iovec>& iov)
{
    std::shared_lock lock(chainMutex_);
    top_->readv(offset, iov);
}

void LiveDisk::mirrored(const std::function<void(DiskImage&)>& op)
{
    std::shared_lock lock(chainMutex_);
    if (!mirror_) {
        op(*top_);
        return;
    }
    std::lock_guard mirrorLock(mirrorMutex_);
    op(*top_);
    if (!mirrorError_.empty())
        return;
    try {
        op(*mirror_);
    } catch (const std::exception& e) {
        // The guest's write is done (on the top); only the job fails.
        mirrorError_ = mirror_->path() + ": " + e.what();
        mirrorBroken_();
    }
}

void LiveDisk::writev(uint64_t offset, const std::vector<iovec>& iov)
{
    mirrored([&](DiskImage& image) { image.writev(offset, iov); });
}

DiskImage& LiveDisk::direct()
{
    std::lock_guard lock(mirrorMutex_);
    return mirror_ ? *this : top_->direct();
}

void LiveDisk::grow(uint64_t newSize)
{
    std::lock_guard lock(chainMutex_);
    if (job_ && job_->running())
        throw Error(top_->path() + ": " + _("a block job runs on the disk: complete or cancel it first"));
    top_->resize(newSize);
}

void LiveDisk::flush()
{
    mirrored([](DiskImage& image) { image.flush(); });
}

void LiveDisk::discard(uint64_t offset, uint64_t length)
{
    mirrored([&](DiskImage& image) { image.discard(offset, length); });
}

void LiveDisk::writeZeroes(uint64_t offset, uint64_t length)
{
    mirrored([&](DiskImage& image) { image.writeZeroes(offset, length); });
}

std::vector<LiveDisk::Link> LiveDisk::chain() const
{
    std::shared_lock lock(chainMutex_);
    std::vector<Link> links{{top_->path(), topType_, top_.get()}};
    while (auto* qcow2 = dynamic_cast<Qcow2Image*>(links.back().image)) {
        if (!qcow2->backing())
            break;
        links.push_back({qcow2->backingReference()->path, qcow2->backingReference()->type, qcow2->backing()});
    }
    return links;
}

void LiveDisk::snapshot(const std::string& overlayPath, UniqueFd overlay, const std::string& backingName)
{
    std::unique_lock lock(chainMutex_);  // waits for the requests in flight
    if (job_ && job_->running())
        throw Error(overlayPath + ": " + _("a block job runs on this disk"));
    // The top becomes a read-only backing: what it caches (qcow2 metadata) goes to its
    // file now, so the file is whole on its own (a backup may copy it, a commit opens
    // it again through a handle of its own).
    top_->flush();
    top_->shareLock();
    createQcow2Overlay(overlay.get(), overlayPath, top_->size(), backingName, topType_);
    auto file = std::make_unique<RawImage>(overlayPath, false, options_.image.direct, options_.image.shared,
                                           std::move(overlay));
    // The header names the top; the top is already open (and written to until now),
    // so it is the backing as it is, not opened again.
    auto top = std::make_unique<Qcow2Image>(std::move(file), [this](const BackingReference&) { return std::move(top_); });
    top_ = std::move(top);
    topType_ = ImageType::Qcow2;
}

void LiveDisk::startCommit(const Link& base, UniqueFd baseFile, JobEvent onEvent)
{
    std::vector<Qcow2Image*> above;
    for (const Link& link : chain()) {
        if (link.image == base.image)
            break;
        above.push_back(static_cast<Qcow2Image*>(link.image));  // only qcow2 images have a backing
    }
    // The base opened again for writing, with its own chain below it (read-only, under
    // shared locks: a link that was the top once shares its lock since the snapshot
    // that put an overlay on it). The chain's own link keeps the base locked while the
    // job runs; this file takes its lock at the pivot, when that link is closed,
    // through a second fd on the same open file.
    UniqueFd lockFd(::fcntl(baseFile.get(), F_DUPFD_CLOEXEC, 3));
    if (!lockFd)
        throw systemError(base.path);
    ImageOptions options = options_.image;
    options.type = base.type;
    options.readOnly = false;
    options.unlocked = true;
    auto handed = options_.image.handedFile;
    options.handedFile = [&](const std::string& path) {
        if (baseFile && path == base.path)
            return std::move(baseFile);
        return handed ? handed(path) : UniqueFd();
    };
    auto target = openImage(base.path, options);
    if (target->size() < size())
        throw Error(base.path + ": " + _("the base is smaller than the disk (resize it first)"));
    job_.reset();  // a job that failed before
    job_ = std::make_unique<CommitJob>(*this, std::move(target), base.type, std::move(lockFd), std::move(above),
                                       options_.jobThread, options_.jobThreadStart, std::move(onEvent));
}

bool LiveDisk::jobRunning() const
{
    return job_ && job_->running();
}

std::optional<LiveDisk::JobStatus> LiveDisk::jobStatus() const
{
    if (!job_)
        return std::nullopt;
    return job_->status();
}

void LiveDisk::completeJob()
{
    if (!job_)
        throw Error(_("no block job runs on this disk"));
    job_->complete();
    job_.reset();
}

void LiveDisk::cancelJob()
{
    if (!job_)
        throw Error(_("no block job runs on this disk"));
    job_->cancel();
    job_.reset();
}

void LiveDisk::startMirror(std::unique_ptr<DiskImage> target, ImageType type, UniqueFd lockFd,
                           std::function<void()> broken)
{
    std::unique_lock lock(chainMutex_);  // the writes in flight finish on the top alone
    mirror_ = std::move(target);
    mirrorType_ = type;
    mirrorLockFd_ = std::move(lockFd);
    mirrorBroken_ = std::move(broken);
    mirrorError_.clear();
}

bool LiveDisk::copyAllocated(uint64_t offset, uint64_t length, const std::vector<Qcow2Image*>& above)
{
    std::shared_lock lock(chainMutex_);
    std::lock_guard mirrorLock(mirrorMutex_);
    if (!mirror_ || !mirrorError_.empty())
        return false;
    bool allocated = false;
    for (Qcow2Image* image : above)
        allocated = allocated || image->allocatedIn(offset, length);
    if (!allocated)
        return false;
    std::vector<uint8_t> data(length);
    std::vector<iovec> iov{{data.data(), data.size()}};
    top_->readv(offset, iov);
    try {
        mirror_->writev(offset, iov);
    } catch (const std::exception& e) {
        mirrorError_ = mirror_->path() + ": " + e.what();
        throw;
    }
    return true;
}

std::string LiveDisk::mirrorError() const
{
    std::lock_guard lock(mirrorMutex_);
    return mirrorError_;
}

void LiveDisk::stopMirror(bool pivot)
{
    std::unique_lock lock(chainMutex_);
    if (!mirror_)
        return;
    if (pivot) {
        try {
            mirror_->flush();
        } catch (...) {
            // The base may not hold every write: the top stays.
            mirror_.reset();
            mirrorLockFd_.reset();
            throw;
        }
        top_ = std::move(mirror_);  // closes the images above the base
        topType_ = mirrorType_;
        if (::flock(mirrorLockFd_.get(), (options_.image.shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
            std::cerr << "mica-vmm: " << top_->path() << ": "
                      << _("another process holds a lock on the image: it stays unlocked") << std::endl;
    }
    mirror_.reset();
    mirrorLockFd_.reset();
    mirrorBroken_ = nullptr;
}

}  // namespace mica::block
