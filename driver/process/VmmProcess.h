// One mica-vmm process as the daemon sees it: started detached (its own session, its
// output in the domain log) so that it outlives a daemon restart, and watched through
// a pidfd, which works the same for a child and for a VMM found again after a restart.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "Confinement.h"
#include "UniqueFd.h"

namespace mica::process {

class VmmProcess {
public:
    // Starts argv[0] with argv, stdin /dev/null, stdout and stderr appended to logPath,
    // eventFd (if >= 0) as its fd 3 (for `--event-monitor fd=3`) and lockFd (if >= 0,
    // VmmLock.h) as its fd 4, which it keeps without knowing; nothing else of the daemon's
    // is inherited, its environment included (it gets PATH, and LANG/LC_ALL if set: no
    // NOTIFY_SOCKET, LISTEN_FDS, ...). With `confinement`, the process runs confined so
    // (Confinement.h).
    // beforeRun(pid), if given, runs in the daemon after the process exists and before it
    // may exec: the child waits on a pipe until then, and a daemon that dies before
    // beforeRun returns (the pipe's write end closes with it) makes the child exit
    // without ever running the VMM. So whatever beforeRun records (the pid, in the
    // domain's status) is on disk before any VMM runs. If beforeRun throws, the child
    // exits the same way and the exception propagates.
    // Throws std::runtime_error when it cannot.
    static VmmProcess spawn(const std::vector<std::string>& argv, const std::string& logPath, int eventFd = -1,
                            const VmmConfinement* confinement = nullptr, int lockFd = -1,
                            const std::function<void(pid_t)>& beforeRun = {});
    // A process this daemon did not start (found from a status file); nullopt when pid
    // no longer runs.
    static std::optional<VmmProcess> adopt(pid_t pid);

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }   // readable once the process ended

    // Whether it has ended; for our own child also reaps it and records how.
    bool ended();
    // Exit status (0-255) or 128+signal of our own child once ended; nullopt when
    // unknown (an adopted process, or not ended).
    std::optional<int> exitStatus() const { return status_; }

    void kill(int signal) const;
    // Waits up to timeoutMs for the end; true when it ended.
    bool waitEnded(int timeoutMs);

    // CPU time so far, in nanoseconds (0 when unreadable).
    struct CpuTimes {
        std::uint64_t userNs = 0, systemNs = 0;
        std::uint64_t totalNs() const { return userNs + systemNs; }
    };
    CpuTimes cpuTimes() const;
    std::uint64_t cpuTimeNs() const { return cpuTimes().totalNs(); }
    // Resident memory (VmRSS), KiB; 0 when unreadable.
    std::uint64_t rssKiB() const;

private:
    VmmProcess(pid_t pid, UniqueFd pidfd, bool child) : pid_(pid), pidfd_(std::move(pidfd)), child_(child) {}
    pid_t pid_;
    UniqueFd pidfd_;
    bool child_;
    bool ended_ = false;
    std::optional<int> status_;
};

}  // namespace mica::process
