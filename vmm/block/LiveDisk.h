// A running disk's chain of images, as its device sees one DiskImage: every request is
// passed to the chain's top, and the chain can change under a running guest. A
// disk-only snapshot puts a new qcow2 overlay on top (the old top becomes its
// read-only backing, the same open object); a commit job mirrors the guest's writes
// into an image below and, when it is complete, makes that image the top.
//
// Requests hold a shared lock on the chain, a change takes it exclusively: so a change
// waits for the requests in flight (on the disk's IoWorkers), holds back new ones, and
// no request sees half a change.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "DiskImage.h"

namespace mica::block {

class CommitJob;
class Qcow2Image;

class LiveDisk : public DiskImage {
public:
    struct Options {
        ImageOptions image;      // how the chain was opened: what a job reopens a link with
        std::string jobThread;   // a block job's thread name ("_disk0j")
        std::function<void()> jobThreadStart;  // runs first on it (the VMM's seccomp filter)
    };
    LiveDisk(std::unique_ptr<DiskImage> top, ImageType topType, Options options);
    ~LiveDisk() override;  // cancels a job first

    uint64_t size() const override;
    bool readOnly() const override;
    // The top's path; it may change (snapshot, pivot) once read.
    const std::string& path() const override;
    ImageType topType() const;
    void readv(uint64_t offset, const std::vector<iovec>& iov) override;
    void writev(uint64_t offset, const std::vector<iovec>& iov) override;
    void flush() override;
    void discard(uint64_t offset, uint64_t length) override;
    void writeZeroes(uint64_t offset, uint64_t length) override;
    // The top, unless a commit job mirrors its writes.
    DiskImage& direct() override;

    // The chain from the top down, as its metadata names each link.
    struct Link {
        std::string path;
        ImageType type;
        DiskImage* image;
    };
    std::vector<Link> chain() const;

    // vm.disk-snapshot: writes a qcow2 overlay into `overlay` (an empty file open for
    // writing at `overlayPath`) naming the current top as its backing (`backingName`,
    // the top's path as the VM's configuration has it), and makes it the top.
    void snapshot(const std::string& overlayPath, UniqueFd overlay, const std::string& backingName);

    // vm.block-commit. `base`: a link of chain() below the top; `baseFile`: it, open for
    // writing. A job already running is refused by the caller (jobRunning()).
    using JobEvent = std::function<void(const std::string& event, const std::string& error)>;
    void startCommit(const Link& base, UniqueFd baseFile, JobEvent onEvent);
    bool jobRunning() const;
    struct JobStatus {
        uint64_t cur = 0, end = 0;
        bool ready = false;
        std::string error;  // the job failed
    };
    std::optional<JobStatus> jobStatus() const;
    // Pivots to the base (throws Error unless the job is ready); the job ends.
    void completeJob();
    void cancelJob();

    // For CommitJob. From startMirror() on, each write, discard and write-zeroes goes
    // to the top and then to `target` (of type `type`); `broken` is called (on the
    // writing thread) when a write to the target fails, which stops the mirroring.
    void startMirror(std::unique_ptr<DiskImage> target, ImageType type, UniqueFd lockFd, std::function<void()> broken);
    // Copies [offset, offset + length) as the chain reads it to the target when any of
    // `above` holds a cluster there; between guest writes. Returns whether it copied.
    bool copyAllocated(uint64_t offset, uint64_t length, const std::vector<Qcow2Image*>& above);
    std::string mirrorError() const;
    // Ends the mirroring: `pivot` makes the target the top (the images above it are
    // closed); otherwise the target is closed.
    void stopMirror(bool pivot);

protected:
    // The top grows (a commit job running refuses: its base keeps the old size).
    void grow(uint64_t newSize) override;

private:
    // Runs a write-like request on the top and, while mirroring, on the target too.
    void mirrored(const std::function<void(DiskImage&)>& op);

    // The chain's lock: shared by requests, exclusive for a change. Unlike
    // std::shared_mutex (glibc's rwlock prefers readers), a change that waits keeps new
    // requests out, so a guest that never stops writing cannot keep it waiting forever.
    class Gate {
    public:
        void lock_shared();
        void unlock_shared();
        void lock();
        void unlock();

    private:
        std::mutex mutex_;
        std::condition_variable changed_;
        unsigned active_ = 0, waiting_ = 0;
        bool changing_ = false;
    };

    Options options_;
    mutable Gate chainMutex_;
    std::unique_ptr<DiskImage> top_;
    ImageType topType_;
    // While a commit job runs. mirrorMutex_ orders the guest's writes with the job's
    // copies, so a copy never overwrites a newer write on the target.
    mutable std::mutex mirrorMutex_;
    std::unique_ptr<DiskImage> mirror_;
    ImageType mirrorType_ = ImageType::Raw;
    UniqueFd mirrorLockFd_;  // the target's open file: its lock becomes exclusive at a pivot
    std::function<void()> mirrorBroken_;
    std::string mirrorError_;  // with mirrorMutex_
    std::unique_ptr<CommitJob> job_;
};

}  // namespace mica::block
