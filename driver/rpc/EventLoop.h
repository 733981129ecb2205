// A small epoll loop: fd watches and a periodic tick, on one thread. The daemon does
// everything on it; handlers must not block (the domain driver later hands slow work to
// its own threads and comes back through post()).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "UniqueFd.h"

namespace mica::rpc {

class EventLoop {
public:
    using FdCallback = std::function<void(std::uint32_t events)>;

    EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void watch(int fd, std::uint32_t events, FdCallback cb);
    void modify(int fd, std::uint32_t events);
    void unwatch(int fd);

    // Called roughly every tickMs, and after every batch of fd events.
    void setTick(std::int64_t tickMs, std::function<void()> tick);
    // Runs fn on the loop thread soon; callable from any thread.
    void post(std::function<void()> fn);

    void run();
    void quit() { quit_ = true; }

    static std::int64_t nowMs();

private:
    void drainPosted();
    UniqueFd epoll_;
    UniqueFd wakeup_;   // eventfd: post() pokes the loop
    struct Watch {
        std::uint32_t generation;   // tells a reused fd number from the one an event was for
        FdCallback callback;
    };
    std::unordered_map<int, Watch> watches_;
    std::uint32_t nextGeneration_ = 0;
    std::int64_t tickMs_ = 1000;
    std::function<void()> tick_;
    std::mutex postedMutex_;
    std::vector<std::function<void()>> posted_;
    bool quit_ = false;
};

}  // namespace mica::rpc
