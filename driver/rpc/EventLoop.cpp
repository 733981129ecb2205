#include "EventLoop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <system_error>

namespace mica::rpc {

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wakeup_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!epoll_ || !wakeup_)
        throw std::system_error(errno, std::generic_category(), "event loop");
    watch(wakeup_.get(), EPOLLIN, [this](std::uint32_t) {
        std::uint64_t n;
        while (::read(wakeup_.get(), &n, sizeof n) > 0) {
        }
        drainPosted();
    });
}

std::int64_t EventLoop::nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

void EventLoop::watch(int fd, std::uint32_t events, FdCallback cb)
{
    std::uint32_t gen = ++nextGeneration_;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (std::uint64_t{gen} << 32) | static_cast<std::uint32_t>(fd);
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl add");
    watches_[fd] = {gen, std::move(cb)};
}

void EventLoop::modify(int fd, std::uint32_t events)
{
    auto it = watches_.find(fd);
    if (it == watches_.end())
        return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = (std::uint64_t{it->second.generation} << 32) | static_cast<std::uint32_t>(fd);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::unwatch(int fd)
{
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    watches_.erase(fd);
}

void EventLoop::setTick(std::int64_t tickMs, std::function<void()> tick)
{
    tickMs_ = tickMs;
    tick_ = std::move(tick);
}

void EventLoop::post(std::function<void()> fn)
{
    {
        std::lock_guard lock(postedMutex_);
        posted_.push_back(std::move(fn));
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeup_.get(), &one, sizeof one);
}

void EventLoop::drainPosted()
{
    std::vector<std::function<void()>> fns;
    {
        std::lock_guard lock(postedMutex_);
        fns.swap(posted_);
    }
    for (auto& fn : fns) {
        try {
            fn();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "virtmicad: posted work failed: %s\n", e.what());
        }
    }
}

void EventLoop::run()
{
    quit_ = false;
    std::int64_t nextTick = nowMs() + tickMs_;
    while (!quit_) {
        epoll_event events[64];
        std::int64_t wait = std::max<std::int64_t>(0, nextTick - nowMs());
        int n = ::epoll_wait(epoll_.get(), events, 64, static_cast<int>(wait));
        if (n < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "epoll_wait");
        for (int i = 0; i < n && !quit_; ++i) {
            int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
            auto gen = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
            auto it = watches_.find(fd);
            // Unwatched by an earlier callback in this batch, or closed and its
            // number reused by a new watch: the event is not for what is there now.
            if (it == watches_.end() || it->second.generation != gen)
                continue;
            FdCallback cb = it->second.callback;   // the callback may unwatch itself
            try {
                cb(events[i].events);
            } catch (const std::exception& e) {
                // One connection's trouble (out of memory, epoll limits) must not end
                // the daemon for everyone else.
                std::fprintf(stderr, "virtmicad: event handler failed: %s\n", e.what());
            }
        }
        if (nowMs() >= nextTick) {
            nextTick = nowMs() + tickMs_;
            if (tick_) {
                try {
                    tick_();
                } catch (const std::exception& e) {
                    std::fprintf(stderr, "virtmicad: periodic work failed: %s\n", e.what());
                }
            }
        }
    }
}

}  // namespace mica::rpc
