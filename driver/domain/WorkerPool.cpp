#include "WorkerPool.h"

#include <pthread.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

namespace mica::domain {

struct WorkerPool::State {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::function<std::function<void()>()>> tasks;
    rpc::EventLoop* loop = nullptr;   // null once the owner is gone: results are dropped
    std::size_t threads = 0, idle = 0, maxThreads = 0;
    bool stopping = false;
};

namespace {

// Idle threads beyond this many end after a while, so a burst (20 domains starting)
// does not leave 20 threads behind.
constexpr std::size_t kKeepIdle = 4;

void workerMain(std::shared_ptr<WorkerPool::State> s);

}  // namespace

WorkerPool::WorkerPool(rpc::EventLoop& loop, std::size_t maxThreads) : state_(std::make_shared<State>())
{
    state_->loop = &loop;
    state_->maxThreads = maxThreads;
}

WorkerPool::~WorkerPool()
{
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->loop = nullptr;
    state_->tasks.clear();
    state_->wake.notify_all();
}

std::size_t WorkerPool::threads() const
{
    std::lock_guard lock(state_->mutex);
    return state_->threads;
}

void WorkerPool::run(std::function<std::function<void()>()> work)
{
    std::lock_guard lock(state_->mutex);
    state_->tasks.push_back(std::move(work));
    if (state_->idle >= state_->tasks.size() || state_->threads >= state_->maxThreads) {
        state_->wake.notify_one();
        return;
    }
    ++state_->threads;
    try {
        std::thread(workerMain, state_).detach();
    } catch (const std::system_error& e) {
        // Out of threads: the task waits for a running one.
        --state_->threads;
        std::fprintf(stderr, "virtmicad: cannot start a worker thread: %s\n", e.what());
        state_->wake.notify_one();
    }
}

namespace {

void workerMain(std::shared_ptr<WorkerPool::State> s)
{
    ::pthread_setname_np(::pthread_self(), "worker");
    std::unique_lock lock(s->mutex);
    for (;;) {
        if (s->stopping)
            break;
        if (s->tasks.empty()) {
            ++s->idle;
            bool woken = s->wake.wait_for(lock, std::chrono::seconds(30), [&] { return s->stopping || !s->tasks.empty(); });
            --s->idle;
            if (!woken && s->idle >= kKeepIdle)
                break;
            continue;
        }
        auto task = std::move(s->tasks.front());
        s->tasks.pop_front();
        lock.unlock();
        std::function<void()> result;
        try {
            result = task();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "virtmicad: worker task failed: %s\n", e.what());
        }
        task = nullptr;
        lock.lock();
        if (result && s->loop)
            s->loop->post(std::move(result));
        else if (result) {
            // The owner is gone: destroy the continuation without the lock (it may own
            // objects whose destructors take locks of their own).
            lock.unlock();
            result = nullptr;
            lock.lock();
        }
    }
    --s->threads;
}

}  // namespace

}  // namespace mica::domain
