// The API socket's HTTP/1.1 server: one thread, an event loop over every connection.
//
// Requests are handled in arrival order on the thread that calls run(); the handler
// decides what a request does (the VMM hands it to its control loop). No client can keep
// another from being served: all IO is non-blocking and each connection has a deadline
// for the whole of its request (from the connection's start or its last reply, so one
// that sends nothing or a byte now and then is dropped all the same: 408) and another
// for its reply (a client that does not read is dropped). When every slot is taken, or
// the process is out of fds, the connection with the nearest deadline (the one that has
// waited longest to finish what it is doing) makes room for a new one, so accept() is
// never starved. A connection that sends garbage gets a 4xx and is closed.
#pragma once

#include <functional>
#include <list>
#include <string>

#include "Connection.h"
#include "HttpMessage.h"
#include "RequestParser.h"
#include "UniqueFd.h"

namespace mica::http {

struct ServerOptions {
    ParserLimits limits;
    int requestTimeoutMs = 30000;   // a whole request, or the wait for one, takes at most this (408)
    int writeTimeoutMs = 5000;      // a client that does not read its reply in this time is dropped
    // Connections held at once; past it the most overdue one is dropped. Each holds a
    // few KiB and an fd, and the fds are the VMM's too (its devices need some).
    int maxConnections = 128;
    // Fds received with requests not yet complete, over all connections (each may bring
    // kMaxRequestFds): past it the most overdue connections holding some are dropped.
    std::size_t maxHeldFds = 256;
};

class Server {
public:
    using Handler = Connection::Handler;

    Server(UniqueFd listener, Handler handler, ServerOptions options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Creates a listening unix socket at path (replacing a stale socket file).
    // Throws std::system_error naming the path.
    static UniqueFd listenUnix(const std::string& path);

    // Serves until stop() is called from any thread.
    void run();
    void stop();

private:
    void acceptSome();
    bool dropMostOverdue(bool holdingFds);
    void dropOverdueFdHolders();

    UniqueFd listener_;
    UniqueFd wakeup_;   // eventfd: stop() writes it to break run()'s poll
    Handler handler_;
    ServerOptions options_;
    std::list<Connection> connections_;
    std::int64_t acceptPausedUntilMs_ = 0;   // out of fds with nothing to drop: try again then
};

}  // namespace mica::http
