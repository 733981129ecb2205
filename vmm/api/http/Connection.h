// One client of the API socket, as the server's event loop holds it: the request being
// read, the reply being written, and the deadline of whichever it is doing.
//
// Nothing here blocks: the loop calls onReadable()/onWritable() when poll() says so, and
// a client that is slow to send a request or to read its reply only runs down its own
// deadline. The output is bounded: while a reply is unsent, no further request is read
// (so a client that never reads holds one reply, and the kernel's socket buffer).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "HttpMessage.h"
#include "RequestParser.h"
#include "UniqueFd.h"

namespace mica::http {

// Milliseconds on the monotonic clock: what every deadline here is measured in.
std::int64_t monotonicMs();

struct ConnectionTimeouts {
    int requestMs;   // from the connection's start, or the end of its last reply, to a whole request
    int writeMs;     // from a reply's start to the client having read it
};

class Connection {
public:
    using Handler = std::function<Response(Request&)>;

    Connection(UniqueFd fd, ParserLimits limits, ConnectionTimeouts timeouts, std::int64_t nowMs);

    // What to wait for: POLLIN while reading a request, POLLOUT while a reply is unsent.
    short events() const;
    // When this connection is to be given up: its request or its reply is late.
    std::int64_t deadlineMs() const { return deadlineMs_; }
    // Fds received for the request under way (SCM_RIGHTS), held until it completes.
    std::size_t heldFds() const { return fds_.size(); }
    int fd() const { return fd_.get(); }

    // Each returns false when the connection is done (closed by the peer, refused, or
    // its reply was the last one); the server then drops it.
    bool onReadable(const Handler& handler);
    bool onWritable(const Handler& handler);
    // The deadline passed: a late request gets a 408 if the socket takes it at once.
    void expire();
    // Dropped to make room for a new connection: a 503 if the socket takes it at once.
    void evict();

private:
    bool serveBuffered(const Handler& handler);
    bool flush();
    void refuse(int status, const std::string& why);
    void sendNow(const std::string& bytes);

    UniqueFd fd_;
    RequestParser parser_;
    ConnectionTimeouts timeouts_;
    std::int64_t deadlineMs_;
    // Fds received since the last complete request: they belong to the next one (a
    // client sends them with the request's bytes; the driver sends one request per
    // connection).
    std::vector<UniqueFd> fds_;
    std::string out_;             // the reply being written, from outSent_ on
    std::size_t outSent_ = 0;
    bool closeAfterReply_ = false;
};

}  // namespace mica::http
