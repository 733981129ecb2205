// The event loop's contract with destructors: removeAndWait() does not return while the
// fd's callback still runs on the loop's thread (a device freed under a running callback
// was mica-vmm's crash on SIGTERM), and does not wait on itself from inside a callback.
#include <gtest/gtest.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "EventLoop.h"
#include "UniqueFd.h"

using namespace mica;

namespace {

struct LoopThread {
    EventLoop loop;
    std::thread thread{[this] { loop.run(); }};
    ~LoopThread()
    {
        loop.stop();
        thread.join();
    }
};

void signal(int fd)
{
    uint64_t one = 1;
    ASSERT_EQ(::write(fd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
}

}  // namespace

TEST(EventLoop, RemoveAndWaitOutlastsARunningCallback)
{
    LoopThread t;
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    std::atomic<bool> started{false}, finished{false};
    t.loop.add(fd.get(), [&] {
        started = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        finished = true;
    });
    signal(fd.get());
    while (!started)
        std::this_thread::yield();
    t.loop.removeAndWait(fd.get());
    EXPECT_TRUE(finished) << "removeAndWait returned while the callback still ran";
}

TEST(EventLoop, RemoveAndWaitFromItsOwnCallbackReturns)
{
    LoopThread t;
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    UniqueFd done(::eventfd(0, EFD_CLOEXEC));
    t.loop.add(fd.get(), [&] {
        t.loop.removeAndWait(fd.get());
        signal(done.get());
    });
    signal(fd.get());
    uint64_t value = 0;
    ASSERT_EQ(::read(done.get(), &value, sizeof value), static_cast<ssize_t>(sizeof value));
    EXPECT_EQ(value, 1u);
}
