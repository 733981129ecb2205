#include "EventLoop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "Error.h"

namespace mica {

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), stopEvent_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
    if (!epoll_ || !stopEvent_)
        throw systemError("event loop");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = stopEvent_.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stopEvent_.get(), &event) < 0)
        throw systemError("epoll_ctl");
}

void EventLoop::add(int fd, Handler handler, uint32_t events)
{
    std::lock_guard lock(mutex_);
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0)
        throw systemError("epoll_ctl add fd " + std::to_string(fd));
    handlers_[fd] = std::make_shared<Handler>(std::move(handler));
}

void EventLoop::remove(int fd)
{
    std::lock_guard lock(mutex_);
    forget(fd);
}

void EventLoop::removeAndWait(int fd)
{
    std::unique_lock lock(mutex_);
    forget(fd);
    if (std::this_thread::get_id() != runner_)
        dispatched_.wait(lock, [&] { return dispatching_ != fd; });
}

void EventLoop::forget(int fd)
{
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(fd);
}

void EventLoop::run()
{
    {
        std::lock_guard lock(mutex_);
        runner_ = std::this_thread::get_id();
    }
    epoll_event events[16];
    for (;;) {
        int n = ::epoll_wait(epoll_.get(), events, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw systemError("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == stopEvent_.get())
                return;
            std::shared_ptr<Handler> handler;
            {
                std::lock_guard lock(mutex_);
                auto it = handlers_.find(fd);
                if (it == handlers_.end())
                    continue;  // removed by an earlier handler in this batch
                handler = it->second;
                dispatching_ = fd;
            }
            struct Done {
                EventLoop& loop;
                ~Done()
                {
                    std::lock_guard lock(loop.mutex_);
                    loop.dispatching_ = -1;
                    loop.dispatched_.notify_all();
                }
            } done{*this};
            (*handler)();
        }
    }
}

void EventLoop::stop()
{
    uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(stopEvent_.get(), &one, sizeof one);
}

}  // namespace mica
