#include "CommitJob.h"

#include <pthread.h>

#include <iostream>

#include "Error.h"
#include "i18n.h"

namespace mica::block {

namespace {

// The copy's unit: the mirror lock is held for one chunk, so a guest write waits at
// most one chunk's read and write.
constexpr uint64_t kChunk = 1 << 20;

}  // namespace

CommitJob::CommitJob(LiveDisk& disk, std::unique_ptr<DiskImage> base, ImageType type, UniqueFd lockFd,
                     std::vector<Qcow2Image*> above, const std::string& threadName, std::function<void()> threadStart,
                     LiveDisk::JobEvent onEvent)
    : disk_(disk), above_(std::move(above)), onEvent_(std::move(onEvent)), end_(disk.size())
{
    disk_.startMirror(std::move(base), type, std::move(lockFd), [this] {
        std::lock_guard lock(mutex_);
        broken_ = true;
        wake_.notify_all();
    });
    thread_ = std::thread([this, threadName, threadStart = std::move(threadStart)] {
        pthread_setname_np(pthread_self(), threadName.substr(0, 15).c_str());
        run(threadStart);
    });
}

CommitJob::~CommitJob()
{
    if (running())
        finish(false, "block-job-cancelled");
    else if (thread_.joinable())
        thread_.join();
}

void CommitJob::run(const std::function<void()>& threadStart)
{
    auto fail = [this](const std::string& why) {
        disk_.stopMirror(false);
        {
            std::lock_guard lock(mutex_);
            error_ = why;
            finished_ = true;
        }
        std::cerr << "mica-vmm: " << _("block commit failed: ") << why << std::endl;
        onEvent_("block-job-failed", why);
    };
    try {
        if (threadStart)
            threadStart();
        for (uint64_t offset = 0; offset < end_; offset += kChunk) {
            {
                std::lock_guard lock(mutex_);
                if (stop_)
                    return;
                if (broken_)
                    break;
            }
            disk_.copyAllocated(offset, std::min(kChunk, end_ - offset), above_);
            cur_ = std::min(end_, offset + kChunk);
        }
    } catch (const std::exception& e) {
        fail(e.what());
        return;
    }
    std::unique_lock lock(mutex_);
    if (!broken_) {
        ready_ = true;
        lock.unlock();
        onEvent_("block-job-ready", "");
        lock.lock();
        // Ready: the base reads as the top does and the mirror keeps it so, until
        // complete() or cancel(), or a write to the base fails.
        wake_.wait(lock, [this] { return stop_ || broken_; });
    }
    if (stop_)
        return;
    lock.unlock();
    fail(disk_.mirrorError());
}

bool CommitJob::running() const
{
    std::lock_guard lock(mutex_);
    return !finished_;
}

LiveDisk::JobStatus CommitJob::status() const
{
    std::lock_guard lock(mutex_);
    return {cur_.load(), end_, ready_ && !finished_, error_};
}

void CommitJob::complete()
{
    {
        std::lock_guard lock(mutex_);
        if (finished_)
            throw Error(error_.empty() ? _("the block job has ended") : _("the block job failed: ") + error_);
        if (!ready_)
            throw Error(_("the block job is not ready yet"));
    }
    if (!finish(true, "block-job-completed")) {
        std::lock_guard lock(mutex_);
        throw Error(_("the block job failed: ") + error_);
    }
}

void CommitJob::cancel()
{
    if (running())
        finish(false, "block-job-cancelled");
}

bool CommitJob::finish(bool pivot, const char* event)
{
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        wake_.notify_all();
    }
    thread_.join();
    // The thread may have failed meanwhile: then it said so, and there is nothing left.
    {
        std::lock_guard lock(mutex_);
        if (finished_)
            return false;
        finished_ = true;
    }
    try {
        disk_.stopMirror(pivot);
    } catch (const std::exception& e) {
        {
            std::lock_guard lock(mutex_);
            error_ = e.what();
        }
        onEvent_("block-job-failed", e.what());
        throw;
    }
    onEvent_(event, "");
    return true;
}

}  // namespace mica::block
