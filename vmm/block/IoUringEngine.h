// A raw image's reads, writes and flushes done by the kernel through an io_uring: no
// thread of ours waits on them, and many are in flight at once (up to the ring's 256
// entries; more wait their turn). The ring signals its own eventfd as requests finish;
// complete() reaps them, resumes short transfers and retries EAGAIN/EINTR before the
// device sees them. What the ring does not do goes to a ThreadPoolEngine beside it:
// jobs (discard and write-zeroes, with their fallbacks for file systems without holes
// and BLKDISCARD for block devices) and O_DIRECT transfers that need a bounce buffer.
#pragma once

#include <liburing.h>

#include <deque>
#include <mutex>
#include <optional>

#include "IoEngine.h"
#include "IoVectors.h"
#include "RawImage.h"
#include "ThreadPoolEngine.h"
#include "UniqueFd.h"

namespace mica::block {

class IoUringEngine : public IoEngine {
public:
    // Throws Error when the kernel gives no ring (io_uring disabled, or a seccomp
    // filter). `image` outlives the engine.
    IoUringEngine(RawImage& image, const std::string& name, unsigned threads, std::function<void()> onStart);
    ~IoUringEngine() override;

    IoEngineKind kind() const override { return IoEngineKind::IoUring; }
    void submit(Job work, Job completion) override { fallback_.submit(std::move(work), std::move(completion)); }
    void readv(uint64_t offset, std::vector<iovec> iov, Done done) override;
    void writev(uint64_t offset, std::vector<iovec> iov, Done done) override;
    void flush(Done done) override;
    void kick() override;
    std::vector<int> eventFds() const override { return {event_.get(), fallback_.eventFds().front()}; }
    size_t complete() override;
    void waitIdle() override;
    void cancel() override;

private:
    enum class Type { Read, Write, Flush };
    struct Operation {
        Type type;
        uint64_t offset;
        IoVectors rest;
        Done done;
    };
    // The mutex held by the callers of all below.
    void start(Operation operation);
    void prepare(unsigned slot);
    void submitPrepared();
    // Takes every completion the ring holds. `finish`: each operation resumed or retried
    // (another SQE) or ended (its callback waits in done_); else each is forgotten.
    void reap(bool finish);
    // Until nothing is in the kernel (and, when finishing, nothing waits for a slot).
    void drain(bool finish);
    // Whether `operation`, whose last part gave `result`, goes on; else `error` says how it ended.
    bool advance(Operation& operation, int result, std::string& error);

    RawImage& image_;
    UniqueFd event_;
    io_uring ring_{};
    ThreadPoolEngine fallback_;
    std::mutex mutex_;
    std::vector<std::optional<Operation>> slots_;  // in the ring, by SQE user_data
    std::vector<unsigned> freeSlots_;
    std::deque<Operation> waiting_;  // for a slot
    std::vector<std::pair<Done, std::string>> done_;
};

}  // namespace mica::block
