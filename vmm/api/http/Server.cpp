#include "Server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <list>
#include <system_error>
#include <vector>

#include "ReceivedFds.h"

namespace mica::http {

namespace {

std::int64_t nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Server::Connection {
    UniqueFd fd;
    RequestParser parser;
    std::int64_t lastActivityMs;
    // Fds received since the last complete request: they belong to the next one (a
    // client sends them with the request's bytes; the driver sends one request per
    // connection).
    std::vector<UniqueFd> fds;
};

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
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || ::listen(fd.get(), 16) < 0)
        throw std::system_error(errno, std::generic_category(), "API socket '" + path + "'");
    return fd;
}

void Server::stop()
{
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakeup_.get(), &one, sizeof(one));
}

bool Server::sendAll(int fd, const std::string& data)
{
    std::size_t sent = 0;
    std::int64_t deadline = nowMs() + options_.writeTimeoutMs;
    while (sent < data.size()) {
        ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        int left = static_cast<int>(deadline - nowMs());
        pollfd pfd{fd, POLLOUT, 0};
        if (left <= 0 || ::poll(&pfd, 1, left) <= 0)
            return false;
    }
    return true;
}

bool Server::serviceConnection(Connection& conn)
{
    char buf[16 * 1024];
    ControlBuffer control;
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof(control.bytes);
    ssize_t n = ::recvmsg(conn.fd.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    auto refuse = [&](const std::string& why) {
        Response response = Response::error(400, why);
        response.closeConnection = true;
        sendAll(conn.fd.get(), response.serialize());
        return false;   // conn and its fds close with it
    };
    try {
        for (auto& fd : takeReceivedFds(msg))
            conn.fds.push_back(std::move(fd));
    } catch (const BadControlMessage& e) {
        return refuse(e.what());
    }
    if (conn.fds.size() > kMaxRequestFds)
        return refuse("at most " + std::to_string(kMaxRequestFds) + " file descriptors may come with one request");
    if (n == 0)
        return false;   // peer closed; a half-sent request is simply dropped
    conn.lastActivityMs = nowMs();

    RequestParser::State state = conn.parser.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    while (state == RequestParser::State::Complete) {
        Request request = conn.parser.take();
        request.fds = std::move(conn.fds);
        conn.fds.clear();
        Response response;
        try {
            response = handler_(request);
        } catch (const std::exception& e) {
            response = Response::error(500, e.what());
        }
        // What the handler did not keep closes before the answer goes out, so a client
        // that has its answer sees them gone.
        request.fds.clear();
        const std::string* connection = request.header("connection");
        bool close = response.closeConnection || (connection && *connection == "close");
        response.closeConnection = close;
        if (!sendAll(conn.fd.get(), response.serialize()) || close)
            return false;
        state = conn.parser.feed({});
    }
    if (state == RequestParser::State::Error) {
        Response response = Response::error(conn.parser.errorStatus(), conn.parser.errorMessage());
        response.closeConnection = true;
        sendAll(conn.fd.get(), response.serialize());
        return false;
    }
    return true;
}

void Server::run()
{
    std::list<Connection> connections;
    for (;;) {
        std::vector<pollfd> fds;
        fds.push_back({wakeup_.get(), POLLIN, 0});
        fds.push_back({listener_.get(), POLLIN, 0});
        for (auto& conn : connections)
            fds.push_back({conn.fd.get(), POLLIN, 0});

        // Wake up in time to drop the connection idle the longest.
        int timeout = -1;
        std::int64_t now = nowMs();
        for (auto& conn : connections) {
            if (!conn.parser.hasPartialRequest())
                continue;
            auto left = std::max<std::int64_t>(0, conn.lastActivityMs + options_.idleTimeoutMs - now);
            timeout = timeout < 0 ? static_cast<int>(left) : std::min(timeout, static_cast<int>(left));
        }
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "API server: poll");
        if (fds[0].revents & POLLIN)
            return;

        auto pfd = fds.begin() + 2;
        now = nowMs();
        for (auto it = connections.begin(); it != connections.end(); ++pfd) {
            bool keep = true;
            if (pfd->revents & (POLLIN | POLLHUP | POLLERR)) {
                keep = serviceConnection(*it);
            } else if (it->parser.hasPartialRequest() && now - it->lastActivityMs >= options_.idleTimeoutMs) {
                Response response = Response::error(408, "request not completed in time");
                response.closeConnection = true;
                sendAll(it->fd.get(), response.serialize());
                keep = false;
            }
            it = keep ? std::next(it) : connections.erase(it);
        }

        if (fds[1].revents & POLLIN) {
            UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!fd)
                continue;
            if (static_cast<int>(connections.size()) >= options_.maxConnections) {
                Response response = Response::error(503, "too many API connections");
                response.closeConnection = true;
                sendAll(fd.get(), response.serialize());
                continue;
            }
            connections.push_back(Connection{std::move(fd), RequestParser(options_.limits), nowMs(), {}});
        }
    }
}

}  // namespace mica::http
