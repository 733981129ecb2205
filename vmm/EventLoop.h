// The `devices` thread's epoll loop: fds with callbacks, and a stop eventfd so another
// thread can end it. Callbacks run on the loop's thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "UniqueFd.h"

namespace mica {

class EventLoop {
public:
    using Handler = std::function<void()>;
    EventLoop();
    // Calls `handler` whenever `fd` is readable (or hung up). Thread-safe.
    void add(int fd, Handler handler);
    void remove(int fd);
    // Runs until stop(); returns at once if stop() came first.
    void run();
    void stop();

private:
    UniqueFd epoll_;
    UniqueFd stopEvent_;
    std::mutex mutex_;
    std::map<int, std::shared_ptr<Handler>> handlers_;
};

}  // namespace mica
