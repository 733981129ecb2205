// The engine every image format can use: the disk's IoWorkers call the image's own
// readv, writev and flush (which may block, or take the format's metadata lock), several
// in flight, and their completions come back through the workers' eventfd.
#pragma once

#include "IoEngine.h"
#include "IoWorkers.h"

namespace mica::block {

class ThreadPoolEngine : public IoEngine {
public:
    // `image` outlives the engine.
    ThreadPoolEngine(DiskImage& image, const std::string& name, unsigned threads, std::function<void()> onStart);

    IoEngineKind kind() const override { return IoEngineKind::Threads; }
    void submit(Job work, Job completion) override { workers_.submit(std::move(work), std::move(completion)); }
    void readv(uint64_t offset, std::vector<iovec> iov, Done done) override;
    void writev(uint64_t offset, std::vector<iovec> iov, Done done) override;
    void flush(Done done) override;
    std::vector<int> eventFds() const override { return {workers_.eventFd()}; }
    size_t complete() override { return workers_.complete(); }
    void waitIdle() override { workers_.waitIdle(); }
    void cancel() override;

private:
    // Runs `operation` on a worker; `done` gets what it threw, if anything.
    void run(std::function<void()> operation, Done done);

    DiskImage& image_;
    IoWorkers workers_;
};

}  // namespace mica::block
