// An epoll loop (the `devices` thread's, and each I/O thread's): fds with callbacks, and a
// stop eventfd so another thread can end it. Callbacks run on the loop's thread only.
#pragma once

#include <sys/epoll.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "UniqueFd.h"

namespace mica {

class EventLoop {
public:
    using Handler = std::function<void()>;
    EventLoop();
    // Calls `handler` whenever `fd` is readable (or hung up). Thread-safe. `events` may ask
    // for something else: EPOLLOUT (writable), EPOLLET (only when its state changes).
    void add(int fd, Handler handler, uint32_t events = EPOLLIN);
    void remove(int fd);
    // remove(), and when called from another thread while fd's callback runs, returns
    // only after it has: for destructors, whose objects the callback uses. The caller
    // must not hold a lock that callbacks take (a device's mutex, say).
    void removeAndWait(int fd);
    // Runs until stop(); returns at once if stop() came first.
    void run();
    void stop();

private:
    void forget(int fd);  // with mutex_ held

    UniqueFd epoll_;
    UniqueFd stopEvent_;
    std::mutex mutex_;
    std::map<int, std::shared_ptr<Handler>> handlers_;
    std::thread::id runner_;  // the thread in run()
    int dispatching_ = -1;    // the fd whose callback runs now
    std::condition_variable dispatched_;
};

}  // namespace mica
