#include "VmmClient.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "CrashPoint.h"
#include "UniqueFd.h"
#include "i18n.h"

namespace mica::process {

namespace {

using Clock = std::chrono::steady_clock;

UniqueFd connectTo(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw VmmUnreachable(path + ": " + _("socket path too long"));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        throw VmmUnreachable(path + ": " + std::strerror(errno));
    return fd;
}

// Waits for fd to become ready for `events` before the deadline.
void waitFor(int fd, short events, Clock::time_point deadline, const std::string& what)
{
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0)
            throw VmmUnreachable(what + ": " + _("the VMM did not answer in time"));
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n > 0)
            return;
        if (n < 0 && errno != EINTR)
            throw VmmUnreachable(what + ": " + std::strerror(errno));
    }
}

}  // namespace

std::string VmmResponse::errorText() const
{
    if (body.is_object() && body.contains("error") && body["error"].is_string())
        return body["error"].get<std::string>();
    return std::string(_("the VMM answered HTTP ")) + std::to_string(status);
}

bool vmmSocketReady(const std::string& socketPath)
{
    try {
        connectTo(socketPath);
        return true;
    } catch (const VmmUnreachable&) {
        return false;
    }
}

VmmResponse vmmRequest(const std::string& socketPath, const char* method, const std::string& endpoint,
                       const std::optional<nlohmann::json>& body, int timeoutMs, const std::vector<int>& fds)
{
    if (fds.size() > kMaxRequestFds)
        throw std::invalid_argument(std::string(method) + " " + endpoint + ": " + std::to_string(fds.size()) +
                                    _(" fds for one request; mica-vmm takes at most ") + std::to_string(kMaxRequestFds));
    const std::string what = std::string(method) + " " + endpoint;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    UniqueFd fd = connectTo(socketPath);

    std::string payload = body ? body->dump() : std::string();
    std::string request = std::string(method) + " /api/v1/" + endpoint + " HTTP/1.1\r\n" +
                          "Host: localhost\r\nConnection: close\r\n";
    if (body)
        request += "Content-Type: application/json\r\n";
    request += "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;

    for (size_t sent = 0; sent < request.size();) {
        waitFor(fd.get(), POLLOUT, deadline, what);
        ssize_t n;
        if (sent == 0 && !fds.empty()) {
            // The fds ride on the request's first bytes: the VMM's server gives a request
            // the fds that arrived while it was being read.
            iovec iov{request.data(), request.size()};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxRequestFds)] = {};
            msghdr msg{};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
            n = ::sendmsg(fd.get(), &msg, MSG_NOSIGNAL);
        } else {
            n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            throw VmmUnreachable(what + ": " + std::strerror(errno));
        if (n > 0)
            sent += static_cast<size_t>(n);
    }

    // Test only: a daemon dying while the VMM works on the request (CrashPoint.h).
    crashPoint(("during-" + endpoint).c_str());

    // Read until the headers say how long the body is and all of it arrived (or EOF).
    std::string in;
    size_t headerEnd = std::string::npos, contentLength = 0;
    for (;;) {
        if (headerEnd != std::string::npos && in.size() >= headerEnd + 4 + contentLength)
            break;
        waitFor(fd.get(), POLLIN, deadline, what);
        char buf[16384];
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            throw VmmUnreachable(what + ": " + std::strerror(errno));
        }
        in.append(buf, static_cast<size_t>(n));
        if (in.size() > (8u << 20))
            throw VmmUnreachable(what + ": " + _("the VMM's answer is too large"));
        if (headerEnd == std::string::npos && (headerEnd = in.find("\r\n\r\n")) != std::string::npos) {
            std::string headers = in.substr(0, headerEnd);
            for (auto& c : headers)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto pos = headers.find("\r\ncontent-length:");
            if (pos != std::string::npos)
                contentLength = std::strtoul(headers.c_str() + pos + 17, nullptr, 10);
        }
    }
    VmmResponse out;
    ucred peer{};
    socklen_t peerLength = sizeof peer;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peerLength) == 0)
        out.peerPid = peer.pid;
    if (in.empty())
        throw VmmUnreachable(what + ": " + _("the VMM closed the connection without answering"));
    if (in.compare(0, 9, "HTTP/1.1 ") != 0 || in.size() < 12 || headerEnd == std::string::npos)
        throw VmmUnreachable(what + ": " + _("the VMM's answer is not HTTP"));
    out.status = std::atoi(in.c_str() + 9);
    std::string text = in.substr(headerEnd + 4);
    if (!text.empty()) {
        out.body = nlohmann::json::parse(text, nullptr, false);
        if (out.body.is_discarded())
            throw VmmUnreachable(what + ": " + _("the VMM's answer is not JSON"));
    }
    return out;
}

}  // namespace mica::process
