#include "Listeners.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "UnixSocket.h"
#include "i18n.h"

namespace mica::driver {

namespace {

constexpr int kSdListenFdsStart = 3;

std::runtime_error sysError(const std::string& what)
{
    return std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

std::vector<Listener> inheritedListeners()
{
    std::vector<Listener> out;
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    const char* names = std::getenv("LISTEN_FDNAMES");
    if (!pid || !fds || std::strtol(pid, nullptr, 10) != ::getpid())
        return out;
    int n = static_cast<int>(std::strtol(fds, nullptr, 10));
    std::vector<std::string> nameList;
    if (names) {
        std::stringstream ss(names);
        std::string item;
        while (std::getline(ss, item, ':'))
            nameList.push_back(item);
    }
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    for (int i = 0; i < n; ++i) {
        int fd = kSdListenFdsStart + i;
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        Listener l;
        l.fd.reset(fd);
        if (i < static_cast<int>(nameList.size()) && nameList[i] != "unknown") {
            if (nameList[i] == "virtmicad.socket")
                l.readOnly = false;
            else if (nameList[i] == "virtmicad-ro.socket")
                l.readOnly = true;
            else
                throw std::runtime_error(std::string(_("unexpected socket from systemd: ")) + nameList[i]);
        } else {
            l.readOnly = i == 1;
        }
        out.push_back(std::move(l));
    }
    return out;
}

UniqueFd bindUnixSocket(const std::string& path, unsigned mode)
{
    // Made under a tight umask so no other user can connect before the chmod. A burst
    // of clients (a management app starting up) should queue, not be refused.
    mode_t old = ::umask(0077);
    UniqueFd fd;
    try {
        fd = listenUnixSocket(path, SOMAXCONN);
    } catch (...) {
        ::umask(old);
        throw;
    }
    ::umask(old);
    if (::chmod(path.c_str(), mode) < 0)
        throw sysError(path);
    return fd;
}

void notifyReady()
{
    const char* sock = std::getenv("NOTIFY_SOCKET");
    if (!sock || !*sock)
        return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::size_t len = std::strlen(sock);
    if (len >= sizeof addr.sun_path)
        return;
    std::memcpy(addr.sun_path, sock, len);
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0';   // abstract namespace
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return;
    static const char kReady[] = "READY=1";
    ::sendto(fd.get(), kReady, sizeof kReady - 1, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
             static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

}  // namespace mica::driver
