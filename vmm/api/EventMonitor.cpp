#include "EventMonitor.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <ctime>

#include "Error.h"
#include "i18n.h"

namespace mica {

EventMonitor::EventMonitor(const std::string& spec)
{
    if (spec.starts_with("path=") && spec.size() > 5) {
        std::string path = spec.substr(5);
        fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!fd_)
            throw systemError("--event-monitor: " + path);
        return;
    }
    int fd = -1;
    if (spec.starts_with("fd=")) {
        auto [end, ec] = std::from_chars(spec.data() + 3, spec.data() + spec.size(), fd);
        if (ec != std::errc() || end != spec.data() + spec.size() || fd < 0)
            fd = -1;
    }
    if (fd < 0)
        throw Error(std::string("--event-monitor: ") + _("expected path=PATH or fd=N, got '") + spec + "'");
    if (::fcntl(fd, F_GETFD) < 0)
        throw systemError("--event-monitor: fd " + std::to_string(fd));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    fd_.reset(fd);
}

void EventMonitor::emit(const std::string& event, const nlohmann::json& properties)
{
    if (!fd_)
        return;
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    nlohmann::json line = {
        {"timestamp", {{"secs", now.tv_sec}, {"nanos", now.tv_nsec}}},
        {"source", "vm"},
        {"event", event},
        {"properties", properties},
    };
    std::string text = line.dump() + "\n";
    std::lock_guard lock(mutex_);
    // One write per line keeps lines whole for a reader of a pipe or an O_APPEND file.
    [[maybe_unused]] ssize_t n = ::write(fd_.get(), text.data(), text.size());
}

}  // namespace mica
