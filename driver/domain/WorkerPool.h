// Threads for the blocking part of domain jobs (VMM REST calls, spawning a VMM, TAPs),
// so the event loop only parses, dispatches and writes. A thread is made when a task
// finds none idle, up to a cap: a VMM that hangs holds one thread for its call's
// timeout, and the other domains' work must still find a thread meanwhile.
//
// Tasks never touch domain state: they get copies of what they need and hand their
// result back to the loop through done(), which runs on the loop thread. When the
// pool's owner goes away first (daemon exit with a call still hanging), results are
// dropped: the threads are detached and hold nothing of the owner's.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "EventLoop.h"

namespace mica::domain {

class WorkerPool {
public:
    // maxThreads: beyond it, tasks wait for a thread to become free.
    WorkerPool(rpc::EventLoop& loop, std::size_t maxThreads = 64);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Runs work on a pool thread, then its result (a closure) on the loop thread.
    // work must not throw: it catches what it expects and returns the continuation.
    void run(std::function<std::function<void()>()> work);

    std::size_t threads() const;

    struct State;   // shared with the (detached) threads, which may outlive the pool

private:
    std::shared_ptr<State> state_;
};

}  // namespace mica::domain
