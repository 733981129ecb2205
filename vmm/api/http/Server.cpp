#include "Server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace mica::http {

namespace {

// Connections taken from the backlog per turn of the loop. Bounded so that a flood of
// connections cannot push out a client accepted a moment ago before it is read: the
// most overdue is dropped first, and a new one is the least overdue.
constexpr int kAcceptsPerTurn = 16;
// How long accept() rests when the process is out of fds and no connection can go.
constexpr int kAcceptPauseMs = 100;
// The backlog a client's connect() waits in while the loop turns.
constexpr int kListenBacklog = 128;

}  // namespace

Server::Server(UniqueFd listener, Handler handler, ServerOptions options)
    : listener_(std::move(listener)),
      wakeup_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      handler_(std::move(handler)),
      options_(options)
{
    if (!wakeup_)
        throw std::system_error(errno, std::generic_category(), "API server: eventfd");
    int flags = ::fcntl(listener_.get(), F_GETFL);
    ::fcntl(listener_.get(), F_SETFL, flags | O_NONBLOCK);
}

Server::~Server() = default;

UniqueFd Server::listenUnix(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
        throw std::system_error(ENAMETOOLONG, std::generic_category(), "API socket '" + path + "'");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd)
        throw std::system_error(errno, std::generic_category(), "API socket '" + path + "'");
    // Only a leftover socket file is replaced; any other file at the path is an error.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
        ::listen(fd.get(), kListenBacklog) < 0)
        throw std::system_error(errno, std::generic_category(), "API socket '" + path + "'");
    return fd;
}

void Server::stop()
{
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeup_.get(), &one, sizeof(one));
}

// Drops the connection whose deadline is nearest (among those holding received fds,
// when asked): the one that has waited longest to finish its request or read its
// reply. False when there is none.
bool Server::dropMostOverdue(bool holdingFds)
{
    auto victim = connections_.end();
    for (auto it = connections_.begin(); it != connections_.end(); ++it)
        if ((!holdingFds || it->heldFds() > 0) &&
            (victim == connections_.end() || it->deadlineMs() < victim->deadlineMs()))
            victim = it;
    if (victim == connections_.end())
        return false;
    victim->evict();
    connections_.erase(victim);
    return true;
}

void Server::dropOverdueFdHolders()
{
    auto held = [this] {
        std::size_t n = 0;
        for (const auto& conn : connections_)
            n += conn.heldFds();
        return n;
    };
    while (held() > options_.maxHeldFds && dropMostOverdue(true)) {
    }
}

void Server::acceptSome()
{
    for (int i = 0; i < kAcceptsPerTurn; ++i) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
        if (!fd) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Out of fds (or memory): make room and try again next turn; with nothing
                // of ours to drop, rest rather than spin on a listener that stays readable.
                if (!dropMostOverdue(false))
                    acceptPausedUntilMs_ = monotonicMs() + kAcceptPauseMs;
            }
            return;   // EAGAIN: the backlog is empty; ECONNABORTED and the like: next turn
        }
        if (static_cast<int>(connections_.size()) >= options_.maxConnections)
            dropMostOverdue(false);
        connections_.emplace_back(std::move(fd), options_.limits,
                                  ConnectionTimeouts{options_.requestTimeoutMs, options_.writeTimeoutMs},
                                  monotonicMs());
    }
}

void Server::run()
{
    std::vector<pollfd> fds;
    for (;;) {
        std::int64_t now = monotonicMs();
        bool accepting = now >= acceptPausedUntilMs_;
        fds.clear();
        fds.push_back({wakeup_.get(), POLLIN, 0});
        fds.push_back({accepting ? listener_.get() : -1, POLLIN, 0});
        std::int64_t wake = accepting ? -1 : acceptPausedUntilMs_;
        for (auto& conn : connections_) {
            fds.push_back({conn.fd(), conn.events(), 0});
            wake = wake < 0 ? conn.deadlineMs() : std::min(wake, conn.deadlineMs());
        }
        int timeout = wake < 0 ? -1 : static_cast<int>(std::clamp<std::int64_t>(wake - now, 0, 60000));
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "API server: poll");
        if (fds[0].revents & POLLIN)
            return;

        // Clients that are ready are served; the others are late only by the time poll()
        // returned: a handler that took long (a snapshot) does not make late a request
        // that arrived meanwhile (the next turn serves it).
        std::int64_t polledAt = monotonicMs();
        auto pfd = fds.begin() + 2;
        for (auto it = connections_.begin(); it != connections_.end(); ++pfd) {
            bool keep = true;
            bool ready = pfd->revents & (POLLIN | POLLOUT | POLLHUP | POLLERR);
            if (pfd->revents & POLLOUT)
                keep = it->onWritable(handler_);
            else if (ready)
                keep = it->events() == POLLIN ? it->onReadable(handler_) : it->onWritable(handler_);
            // Checked after serving too: a client that trickles bytes fast enough to wake
            // every poll still has only its deadline.
            if (keep && (ready ? monotonicMs() : polledAt) >= it->deadlineMs()) {
                it->expire();
                keep = false;
            }
            it = keep ? std::next(it) : connections_.erase(it);
        }
        dropOverdueFdHolders();
        if (fds[1].revents & POLLIN)
            acceptSome();
    }
}

}  // namespace mica::http
