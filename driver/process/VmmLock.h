// The lock that makes two VMMs of one domain impossible: a file in the domain's
// directory, flock(2)ed by the daemon before it spawns the VMM and handed to the VMM as
// an fd it keeps without knowing (flock belongs to the open file description, which the
// VMM's inherited fd shares). Whoever holds it is the domain's VMM, for as long as that
// process lives — a daemon that died mid-start included. The file's text is the pid, for
// an administrator; identity is decided by holding, never by that text.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "UniqueFd.h"

namespace mica::process {

class VmmLock {
public:
    // nullopt: someone (a VMM) holds it. Throws std::runtime_error when the file cannot
    // be opened.
    static std::optional<VmmLock> tryAcquire(const std::string& path);
    // Whether a process holds the lock now (the file missing: no).
    static bool held(const std::string& path);
    // Whether process pid has the lock file open (it is a VMM this lock belongs to):
    // checked through /proc/PID/fd, by device and inode.
    static bool openedBy(pid_t pid, const std::string& path);

    int fd() const { return fd_.get(); }
    // Records the holder's pid in the lock file open as fd (best effort: the text is for
    // people). Static: the start's worker thread has the fd, not the lock.
    static void recordPid(int fd, pid_t pid);

private:
    explicit VmmLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

}  // namespace mica::process
