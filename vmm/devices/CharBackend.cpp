#include "CharBackend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "Error.h"
#include "UnixSocket.h"
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

CharBackend::CharBackend(const CharBackendConfig& config, const std::string& name, UniqueFd opened)
    : config_(config), name_(name)
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
        out_ = opened ? std::move(opened) : UniqueFd(::open(config.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!out_)
            throw systemError(name + ": " + config.path);
        break;
    case Kind::Pty: {
        UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!master || ::grantpt(master.get()) < 0 || ::unlockpt(master.get()) < 0)
            throw systemError(name + ": " + _("cannot create a pseudo-terminal"));
        path_ = ::ptsname(master.get());
        // Raw from the start: the settings stay with the pty while the master is open.
        // The other end is closed again, so that the master tells whether anybody holds
        // it (POLLHUP when nobody does): output waits for a reader that is there, and is
        // discarded when there is none (see write()).
        UniqueFd slave(::open(path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
        struct termios raw{};
        if (slave && ::tcgetattr(slave.get(), &raw) == 0) {
            ::cfmakeraw(&raw);
            ::tcsetattr(slave.get(), TCSANOW, &raw);
        }
        setNonBlocking(master.get());
        in_.reset(::dup(master.get()));
        out_ = std::move(master);
        std::cerr << "mica-vmm: " << name << ": pty " << path_ << std::endl;
        break;
    }
    case Kind::Socket: {
        if (opened) {
            // The caller's listening socket on the path (virtmicad's, for a VMM that
            // cannot reach the path in its own mount namespace).
            listener_ = std::move(opened);
            setNonBlocking(listener_.get());
            path_ = config.path;
            break;
        }
        try {
            listener_ = listenUnixSocket(config.path, 1);
        } catch (const Error& e) {
            throw Error(name + ": " + e.what());
        }
        path_ = config.path;
        break;
    }
    }
}

CharBackend::~CharBackend()
{
    if (loop_) {
        // Vmm destroys backends without its lock held. The output fds are waited for too:
        // their callback (flushPending) calls onDrained_ after it stopped watching them.
        for (int fd : {in_.get(), listener_.get(), client_.get(), clientOut_.get(), out_.get()})
            if (fd >= 0)
                loop_->removeAndWait(fd);
    }
    if (ttyRaw_)
        ::tcsetattr(STDIN_FILENO, TCSANOW, &savedTermios);
    if (listener_)
        ::unlink(config_.path.c_str());
}

namespace {

// Writes until done, an error or a full fd; returns how much was written, errno telling
// why it stopped short.
size_t writeSome(int fd, std::span<const uint8_t> bytes)
{
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            break;
        }
        done += static_cast<size_t>(n);
    }
    return done;
}

// A full fd with nobody at the other end: a pty master whose other end nobody holds, a
// socket whose client left. Output for it is lost, not waited for.
bool nobodyReads(int fd)
{
    pollfd p{fd, POLLOUT, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

}  // namespace

int CharBackend::outputFd() const
{
    return config_.kind == CharBackendConfig::Kind::Socket ? clientOut_.get() : out_.get();
}

void CharBackend::write(std::span<const uint8_t> bytes)
{
    std::lock_guard lock(outMutex_);
    int fd = outputFd();
    if (fd < 0)
        return;  // off, or no socket client: nobody to read
    if (pendingSize() == 0) {
        bytes = bytes.subspan(writeSome(fd, bytes));
        if (bytes.empty())
            return;
        if (errno != EAGAIN || !loop_ || nobodyReads(fd)) {
            dropped_ += bytes.size();  // EIO, EPIPE, ENOSPC, or a full pty nobody reads
            return;
        }
    }
    // Behind what already waits, in order.
    size_t room = kMaxPending - std::min(kMaxPending, pendingSize());
    size_t taken = std::min(room, bytes.size());
    dropped_ += bytes.size() - taken;
    if (pendingStart_ > 0 && pendingStart_ >= pending_.size() / 2) {
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(pendingStart_));
        pendingStart_ = 0;
    }
    pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + static_cast<long>(taken));
    if (watchedFd_ < 0 && pendingSize() > 0) {
        try {
            loop_->add(fd, [this] { flushPending(); }, EPOLLOUT);
            watchedFd_ = fd;
        } catch (const Error&) {
            discardPending();  // an fd epoll cannot watch (a regular file never gets here)
        }
    }
}

bool CharBackend::busy()
{
    std::lock_guard lock(outMutex_);
    return pendingSize() > 0;
}

uint64_t CharBackend::dropped()
{
    std::lock_guard lock(outMutex_);
    return dropped_;
}

void CharBackend::flushPending()
{
    {
        std::lock_guard lock(outMutex_);
        if (watchedFd_ < 0)
            return;
        pendingStart_ += writeSome(watchedFd_, {pending_.data() + pendingStart_, pendingSize()});
        if (pendingSize() > 0 && errno == EAGAIN && !nobodyReads(watchedFd_))
            return;  // the reader took part of it: wait for more room
        discardPending();  // nothing left; or the reader left, and what it did not take is lost
        stopWatching();
    }
    if (onDrained_)
        onDrained_();
}

void CharBackend::discardPending()
{
    dropped_ += pendingSize();
    pending_.clear();
    pendingStart_ = 0;
}

void CharBackend::stopWatching()
{
    if (watchedFd_ >= 0)
        loop_->remove(watchedFd_);
    watchedFd_ = -1;
}

void CharBackend::attach(EventLoop& loop, InputHandler onInput, DrainHandler onDrained)
{
    loop_ = &loop;
    onInput_ = std::move(onInput);
    onDrained_ = std::move(onDrained);
    if (in_) {
        int fd = in_.get();
        try {
            // The pty's master reads EIO and polls as hung up while nobody holds the other
            // end: edge-triggered, that wakes the loop once per change, not forever.
            loop.add(fd, [this, fd] { readFrom(fd); },
                     config_.kind == CharBackendConfig::Kind::Pty ? EPOLLIN | EPOLLET : EPOLLIN);
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
    bool pty = config_.kind == CharBackendConfig::Kind::Pty;
    uint8_t buffer[4096];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            onInput_({buffer, static_cast<size_t>(n)});
            if (pty)
                continue;  // edge-triggered: read until there is no more
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || (pty && errno == EIO)))
            return;  // nothing more now; EIO: nobody holds the pty's other end (yet)
        break;
    }
    // End of input: stdin at EOF, or the socket client left (what waited for it is lost).
    loop_->remove(fd);
    bool discarded = false;
    {
        std::lock_guard lock(outMutex_);
        if (fd == client_.get()) {
            if (watchedFd_ == clientOut_.get()) {
                discardPending();
                stopWatching();
                discarded = true;
            }
            client_.reset();
            clientOut_.reset();
        } else if (fd == in_.get()) {
            in_.reset();
        }
    }
    if (discarded && onDrained_)
        onDrained_();
}

void CharBackend::acceptClient()
{
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client)
        return;
    // Its own fd for output, so the loop can watch it for room apart from input.
    UniqueFd out(::fcntl(client.get(), F_DUPFD_CLOEXEC, 0));
    if (!out)
        return;
    std::lock_guard lock(outMutex_);
    if (client_)
        return;  // one client at a time; the newcomer is closed
    client_ = std::move(client);
    clientOut_ = std::move(out);
    int fd = client_.get();
    loop_->add(fd, [this, fd] { readFrom(fd); });
}

}  // namespace mica
