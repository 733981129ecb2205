#include "Connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include "ReceivedFds.h"

namespace mica::http {

std::int64_t monotonicMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

Connection::Connection(UniqueFd fd, ParserLimits limits, ConnectionTimeouts timeouts, std::int64_t nowMs)
    : fd_(std::move(fd)), parser_(limits), timeouts_(timeouts), deadlineMs_(nowMs + timeouts.requestMs)
{
}

short Connection::events() const
{
    return out_.empty() ? POLLIN : POLLOUT;
}

// One try, never waiting: the last words to a client being dropped.
void Connection::sendNow(const std::string& bytes)
{
    [[maybe_unused]] auto n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void Connection::refuse(int status, const std::string& why)
{
    Response response = Response::error(status, why);
    response.closeConnection = true;
    sendNow(response.serialize());
}

void Connection::expire()
{
    // A reply the client does not read is simply dropped; a request that did not come
    // whole in time is told so, if the socket has room.
    if (out_.empty())
        refuse(408, "request not completed in time");
}

void Connection::evict()
{
    if (out_.empty())
        refuse(503, "too many API connections: this one had waited the longest");
}

bool Connection::onReadable(const Handler& handler)
{
    char buf[16 * 1024];
    ControlBuffer control;
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof(control.bytes);
    ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    try {
        for (auto& fd : takeReceivedFds(msg))
            fds_.push_back(std::move(fd));
    } catch (const BadControlMessage& e) {
        refuse(400, e.what());
        return false;   // the connection and its fds close with it
    }
    if (fds_.size() > kMaxRequestFds) {
        refuse(400, "at most " + std::to_string(kMaxRequestFds) + " file descriptors may come with one request");
        return false;
    }
    if (n == 0)
        return false;   // peer closed; a half-sent request is simply dropped
    // The deadline does not move: a byte now and then buys a slow client no more time.
    parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    return serveBuffered(handler);
}

// Serves the requests buffered whole, one at a time: each reply is written out before
// the next request is looked at, so a client that does not read holds one reply.
bool Connection::serveBuffered(const Handler& handler)
{
    while (out_.empty()) {
        RequestParser::State state = parser_.feed({});
        if (state == RequestParser::State::NeedMore)
            return true;
        if (state == RequestParser::State::Error) {
            refuse(parser_.errorStatus(), parser_.errorMessage());
            return false;
        }
        Request request = parser_.take();
        request.fds = std::move(fds_);
        fds_.clear();
        Response response;
        try {
            response = handler(request);
        } catch (const std::exception& e) {
            response = Response::error(500, e.what());
        }
        // What the handler did not keep closes before the answer goes out, so a client
        // that has its answer sees them gone.
        request.fds.clear();
        const std::string* connection = request.header("connection");
        closeAfterReply_ = response.closeConnection || (connection && *connection == "close");
        response.closeConnection = closeAfterReply_;
        out_ = response.serialize();
        outSent_ = 0;
        // From when the reply is ready: a slow handler is not the client's fault.
        deadlineMs_ = monotonicMs() + timeouts_.writeMs;
        if (!flush())
            return false;
    }
    return true;
}

bool Connection::onWritable(const Handler& handler)
{
    return flush() && serveBuffered(handler);
}

bool Connection::flush()
{
    while (outSent_ < out_.size()) {
        ssize_t n = ::send(fd_.get(), out_.data() + outSent_, out_.size() - outSent_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;   // poll() says when there is room
        outSent_ += static_cast<std::size_t>(n);
    }
    out_.clear();
    outSent_ = 0;
    if (closeAfterReply_)
        return false;
    // The next request gets the whole request timeout, from now.
    deadlineMs_ = monotonicMs() + timeouts_.requestMs;
    return true;
}

}  // namespace mica::http
