// A device's own I/O thread: an EventLoop on a thread named like `_disk0` or `_net0`
// (thread names are an interface: the driver pins and cgroups them), so a slow disk
// does not hold up the consoles or the other devices.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "EventLoop.h"

namespace mica::virtio {

class IoThread {
public:
    // `onStart` runs first on the new thread (the VMM installs its seccomp filter there);
    // if it throws, the process ends: a device thread without its filter must not run.
    IoThread(const std::string& name, std::function<void()> onStart);
    ~IoThread();  // stops the loop and joins; devices must have left the loop before
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    EventLoop& loop() { return loop_; }

private:
    EventLoop loop_;
    std::thread thread_;
};

}  // namespace mica::virtio
