#include "PidFile.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "i18n.h"

namespace mica::driver {

PidFile::PidFile(std::string path) : path_(std::move(path))
{
    fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd_)
        throw std::runtime_error(path_ + ": " + std::strerror(errno));
    struct flock lock{};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    if (::fcntl(fd_.get(), F_SETLK, &lock) < 0) {
        int err = errno;
        if (err == EAGAIN || err == EACCES) {
            char buf[32] = {};
            [[maybe_unused]] auto n = ::pread(fd_.get(), buf, sizeof buf - 1, 0);
            std::string pid(buf);
            while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
                pid.pop_back();
            std::string held = path_;
            fd_.reset();
            path_.clear();   // not ours: never unlink it
            throw std::runtime_error(std::string(_("another virtmicad is already running")) +
                                     (pid.empty() ? "" : " (pid " + pid + ")") + ": " +
                                     _("it holds the lock on ") + held);
        }
        throw std::runtime_error(path_ + ": " + std::strerror(err));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_.get(), 0) < 0 ||
        ::pwrite(fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
        throw std::runtime_error(path_ + ": " + std::strerror(errno));
}

PidFile::~PidFile()
{
    if (fd_ && !path_.empty())
        ::unlink(path_.c_str());
}

}  // namespace mica::driver
