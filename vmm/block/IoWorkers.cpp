#include "IoWorkers.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "Error.h"

namespace mica::block {

IoWorkers::IoWorkers(const std::string& name, unsigned threads, std::function<void()> onStart)
    : event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!event_)
        throw systemError("eventfd");
    for (unsigned i = 0; i < threads; ++i)
        threads_.emplace_back([this, name, onStart] {
            ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
            try {
                if (onStart)
                    onStart();
            } catch (const std::exception& e) {
                std::cerr << "mica-vmm: " << name << ": " << e.what() << std::endl;
                std::abort();
            }
            run();
        });
}

IoWorkers::~IoWorkers()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_.notify_all();
    for (auto& t : threads_)
        t.join();
}

void IoWorkers::submit(Job work, Job completion)
{
    {
        std::lock_guard lock(mutex_);
        queued_.emplace_back(std::move(work), std::move(completion));
    }
    work_.notify_one();
}

void IoWorkers::run()
{
    std::unique_lock lock(mutex_);
    while (true) {
        work_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
        if (queued_.empty())
            return;  // stopping, and nothing left to do
        auto [work, completion] = std::move(queued_.front());
        queued_.pop_front();
        ++running_;
        lock.unlock();
        work();
        lock.lock();
        --running_;
        done_.push_back(std::move(completion));
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(event_.get(), &one, sizeof one);
        if (!running_ && queued_.empty())
            idle_.notify_all();
    }
}

size_t IoWorkers::complete()
{
    uint64_t count;
    [[maybe_unused]] ssize_t n = ::read(event_.get(), &count, sizeof count);
    std::vector<Job> done;
    {
        std::lock_guard lock(mutex_);
        done.swap(done_);
    }
    for (auto& completion : done)
        completion();
    return done.size();
}

void IoWorkers::waitIdle()
{
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return !running_ && queued_.empty(); });
}

void IoWorkers::dropCompletions()
{
    std::lock_guard lock(mutex_);
    done_.clear();
}

}  // namespace mica::block
