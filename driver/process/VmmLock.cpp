#include "VmmLock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace mica::process {

std::optional<VmmLock> VmmLock::tryAcquire(const std::string& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return std::nullopt;
        if (errno != EINTR)
            throw std::runtime_error(path + ": flock: " + std::strerror(errno));
    }
    return VmmLock(std::move(fd));
}

bool VmmLock::held(const std::string& path)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd)
        return false;
    return ::flock(fd.get(), LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

bool VmmLock::openedBy(pid_t pid, const std::string& path)
{
    struct stat want{};
    if (pid <= 0 || ::stat(path.c_str(), &want) < 0)
        return false;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        struct stat st{};
        if (::stat(entry.path().c_str(), &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            return true;
    }
    return false;
}

void VmmLock::recordPid(int fd, pid_t pid)
{
    std::string text = std::to_string(pid) + "\n";
    if (::ftruncate(fd, 0) == 0)
        (void)!::pwrite(fd, text.data(), text.size(), 0);
}

}  // namespace mica::process
