#include "VmmEventChannel.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mica::process {

namespace {

// A VMM sends a few small lines per lifecycle change; a peer that sends a line longer
// than this without a newline is not a mica-vmm: its bytes are dropped.
constexpr std::size_t kMaxLine = 64 * 1024;

}  // namespace

VmmEventChannel VmmEventChannel::open(const std::string& path)
{
    if (::mkfifo(path.c_str(), 0600) < 0 && errno != EEXIST)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    struct stat st{};
    if (::lstat(path.c_str(), &st) < 0 || !S_ISFIFO(st.st_mode))
        throw std::runtime_error(path + ": not a FIFO");
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    return VmmEventChannel(path, std::move(fd));
}

UniqueFd VmmEventChannel::writer() const
{
    // Succeeds at once: our read-write end is a reader.
    UniqueFd w(::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!w)
        throw std::runtime_error(path_ + ": " + std::strerror(errno));
    return w;
}

std::vector<std::string> VmmEventChannel::readLines()
{
    std::vector<std::string> lines;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        partial_.append(buf, static_cast<std::size_t>(n));
        std::size_t start = 0, nl;
        while ((nl = partial_.find('\n', start)) != std::string::npos) {
            lines.push_back(partial_.substr(start, nl - start));
            start = nl + 1;
        }
        partial_.erase(0, start);
        if (partial_.size() > kMaxLine)
            partial_.clear();
    }
    return lines;
}

}  // namespace mica::process
