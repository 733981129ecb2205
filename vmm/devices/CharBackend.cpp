#include "CharBackend.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "Error.h"
#include "i18n.h"

namespace mica {

CharBackendConfig parseCharBackend(const std::string& value, const std::string& what)
{
    using Kind = CharBackendConfig::Kind;
    if (value == "off")
        return {Kind::Off, {}};
    if (value == "tty")
        return {Kind::Tty, {}};
    if (value == "pty")
        return {Kind::Pty, {}};
    if (value.starts_with("file=") && value.size() > 5)
        return {Kind::File, value.substr(5)};
    if (value.starts_with("socket=") && value.size() > 7)
        return {Kind::Socket, value.substr(7)};
    throw Error(what + ": " + _("expected off, tty, pty, file=PATH or socket=PATH, got '") + value + "'");
}

static struct termios savedTermios;

static void setNonBlocking(int fd)
{
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

CharBackend::CharBackend(const CharBackendConfig& config, const std::string& name) : config_(config), name_(name)
{
    using Kind = CharBackendConfig::Kind;
    switch (config.kind) {
    case Kind::Off:
        break;
    case Kind::Tty:
        out_.reset(::dup(STDOUT_FILENO));
        in_.reset(::dup(STDIN_FILENO));
        // A person at a terminal types to the guest, not to our line discipline.
        if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &savedTermios) == 0) {
            struct termios raw = savedTermios;
            ::cfmakeraw(&raw);
            raw.c_oflag |= OPOST | ONLCR;
            raw.c_lflag |= ISIG;  // keep Ctrl-C for ending the VMM
            ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
            ttyRaw_ = true;
        }
        break;
    case Kind::File:
        out_.reset(::open(config.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!out_)
            throw systemError(name + ": " + config.path);
        break;
    case Kind::Pty: {
        UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!master || ::grantpt(master.get()) < 0 || ::unlockpt(master.get()) < 0)
            throw systemError(name + ": " + _("cannot create a pseudo-terminal"));
        path_ = ::ptsname(master.get());
        ptySlave_.reset(::open(path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
        struct termios raw{};
        if (ptySlave_ && ::tcgetattr(ptySlave_.get(), &raw) == 0) {
            ::cfmakeraw(&raw);
            ::tcsetattr(ptySlave_.get(), TCSANOW, &raw);
        }
        setNonBlocking(master.get());
        in_.reset(::dup(master.get()));
        out_ = std::move(master);
        std::cerr << "mica-vmm: " << name << ": pty " << path_ << std::endl;
        break;
    }
    case Kind::Socket: {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (config.path.size() >= sizeof addr.sun_path)
            throw Error(name + ": " + _("socket path too long: ") + config.path);
        std::strcpy(addr.sun_path, config.path.c_str());
        listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        ::unlink(config.path.c_str());
        if (!listener_ || ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
            ::listen(listener_.get(), 1) < 0)
            throw systemError(name + ": " + config.path);
        path_ = config.path;
        break;
    }
    }
}

CharBackend::~CharBackend()
{
    if (loop_) {
        for (int fd : {in_.get(), listener_.get(), client_.get()})
            if (fd >= 0)
                loop_->removeAndWait(fd);  // Vmm destroys backends without its lock held
    }
    if (ttyRaw_)
        ::tcsetattr(STDIN_FILENO, TCSANOW, &savedTermios);
    if (listener_)
        ::unlink(config_.path.c_str());
}

void CharBackend::write(std::span<const uint8_t> bytes)
{
    int fd = out_.get();
    std::unique_lock lock(clientMutex_);
    if (config_.kind == CharBackendConfig::Kind::Socket)
        fd = client_.get();
    else
        lock.unlock();
    while (fd >= 0 && !bytes.empty()) {
        ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;  // EAGAIN (nobody reading), EIO, EPIPE: the bytes are lost, the guest goes on
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
}

void CharBackend::attach(EventLoop& loop, InputHandler onInput)
{
    loop_ = &loop;
    onInput_ = std::move(onInput);
    if (in_) {
        int fd = in_.get();
        try {
            loop.add(fd, [this, fd] { readFrom(fd); });
        } catch (const Error&) {
            // epoll refuses regular files and /dev/null (EPERM): such stdin has no input
            // to wait for, and the guest simply gets none.
            in_.reset();
        }
    }
    if (listener_)
        loop.add(listener_.get(), [this] { acceptClient(); });
}

void CharBackend::readFrom(int fd)
{
    uint8_t buffer[4096];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
        onInput_({buffer, static_cast<size_t>(n)});
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    // End of input: stdin at EOF, or the socket client left.
    loop_->remove(fd);
    std::lock_guard lock(clientMutex_);
    if (fd == client_.get())
        client_.reset();
    else if (fd == in_.get())
        in_.reset();
}

void CharBackend::acceptClient()
{
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client)
        return;
    std::lock_guard lock(clientMutex_);
    if (client_)
        return;  // one client at a time; the newcomer is closed
    client_ = std::move(client);
    int fd = client_.get();
    loop_->add(fd, [this, fd] { readFrom(fd); });
}

}  // namespace mica
