// An active commit (vm.block-commit): the clusters the images above a base hold are
// copied into the base on a thread of the job's own, while the guest keeps writing;
// once every one is copied the job is ready, and completing it makes the base the
// disk's top.
//
// The guest's writes reach the base by mirroring (LiveDisk writes each to the top and
// then to the base from the job's start on), not by a dirty map copied again until it
// converges: a guest that writes faster than the copy would keep a dirty map from ever
// emptying, while with mirroring one pass over the disk is always enough, at the cost
// of each write during the job going to two images.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "LiveDisk.h"

namespace mica::block {

class CommitJob {
public:
    // Starts mirroring into `base` (open for writing, of `type`; `lockFd` its open file)
    // and the copy of what `above` (the top down to the image above the base) holds.
    // `onEvent` is told "block-job-ready", "-completed", "-cancelled" or "-failed".
    CommitJob(LiveDisk& disk, std::unique_ptr<DiskImage> base, ImageType type, UniqueFd lockFd,
              std::vector<Qcow2Image*> above, const std::string& threadName, std::function<void()> threadStart,
              LiveDisk::JobEvent onEvent);
    // A job neither completed nor cancelled is cancelled (the VM stops or reboots).
    ~CommitJob();
    CommitJob(const CommitJob&) = delete;
    CommitJob& operator=(const CommitJob&) = delete;

    // Copying or ready (not failed, completed or cancelled).
    bool running() const;
    LiveDisk::JobStatus status() const;
    // Pivots; throws Error unless ready.
    void complete();
    void cancel();

private:
    void run(const std::function<void()>& threadStart);
    // Ends the thread; with the mirror dropped (cancel) or made the top (pivot).
    // Returns false when the job had failed meanwhile (nothing was done).
    bool finish(bool pivot, const char* event);

    LiveDisk& disk_;
    std::vector<Qcow2Image*> above_;
    LiveDisk::JobEvent onEvent_;
    const uint64_t end_;
    std::atomic<uint64_t> cur_{0};
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool ready_ = false, stop_ = false, finished_ = false, broken_ = false;
    std::string error_;
    std::thread thread_;
};

}  // namespace mica::block
