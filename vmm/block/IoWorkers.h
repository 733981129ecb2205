// Threads that serve one disk's requests, so several are in flight at once and none
// holds the device's lock or its I/O thread while it reads or writes: submit() queues a
// job; a worker runs it and puts its completion on the done list; the device's I/O
// thread, woken by eventFd(), runs the finished ones' completions in one batch
// (complete()), in the order they finished, so the guest sees them out of order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "UniqueFd.h"

namespace mica::block {

class IoWorkers {
public:
    using Job = std::function<void()>;
    // `threads` workers named NAME (the kernel keeps 15 bytes); each runs `onStart`
    // first (the VMM installs its seccomp filter there; if it throws, the process ends).
    IoWorkers(const std::string& name, unsigned threads, std::function<void()> onStart);
    ~IoWorkers();  // waits for queued jobs, then joins
    IoWorkers(const IoWorkers&) = delete;
    IoWorkers& operator=(const IoWorkers&) = delete;

    // `work` runs on a worker; then `completion` waits for complete(). Neither may throw.
    void submit(Job work, Job completion);
    // Runs the completions of the jobs finished so far; returns how many.
    size_t complete();
    // Readable while completions wait (an eventfd; complete() clears it).
    int eventFd() const { return event_.get(); }
    // Returns once no job is queued or running (their completions may still wait).
    void waitIdle();
    // Forgets the completions that wait (the queues they would complete to are gone).
    void dropCompletions();

private:
    void run();

    UniqueFd event_;
    std::mutex mutex_;
    std::condition_variable work_, idle_;
    std::deque<std::pair<Job, Job>> queued_;
    std::vector<Job> done_;
    unsigned running_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace mica::block
