// The daemon's end of one VMM's event monitor (`mica-vmm --event-monitor fd=3`): a FIFO
// in the domain's run directory, watched by the daemon's epoll loop. Nothing is polled.
//
// A FIFO rather than an anonymous pipe so that a daemon started again finds the
// channel of a VMM that outlived its predecessor: it opens the same FIFO and the VMM's
// writes reach it again (those made while no daemon ran fail with EPIPE and are lost;
// the VMM ignores SIGPIPE). The daemon opens its end read-write, so the VMM's writes
// never fail while the daemon lives and the daemon sees no end-of-file when the VMM
// exits (the VMM's pidfd says that). The VMM's end is non-blocking: a daemon that stops
// reading costs the VMM events, never a stalled thread.
#pragma once

#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::process {

class VmmEventChannel {
public:
    // Creates the FIFO at path if it is not there and opens the daemon's end.
    // Throws std::runtime_error.
    static VmmEventChannel open(const std::string& path);

    int fd() const { return fd_.get(); }
    // A write-only descriptor for the VMM to inherit. Throws std::runtime_error.
    UniqueFd writer() const;
    // What arrived: one string per complete line (a partial line waits for its end).
    std::vector<std::string> readLines();

private:
    VmmEventChannel(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    std::string path_;
    UniqueFd fd_;
    std::string partial_;
};

}  // namespace mica::process
