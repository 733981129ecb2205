// The API socket's HTTP/1.1 server: one thread, one request at a time per connection.
//
// Requests are handled in arrival order on the thread that calls run(); the handler
// decides what a request does (the VMM hands it to its control loop). A connection that
// sends garbage gets a 4xx and is closed; one that stalls mid-request is dropped after
// ServerOptions::idleTimeoutMs; neither affects the others or the VMM.
#pragma once

#include <functional>
#include <string>

#include "HttpMessage.h"
#include "RequestParser.h"
#include "UniqueFd.h"

namespace mica::http {

struct ServerOptions {
    ParserLimits limits;
    int idleTimeoutMs = 30000;   // a partial request older than this is dropped (408)
    int writeTimeoutMs = 5000;   // a client that does not read its response is dropped
    int maxConnections = 16;
};

class Server {
public:
    using Handler = std::function<Response(Request&)>;

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
    struct Connection;
    bool serviceConnection(Connection& conn);   // false: close it
    bool sendAll(int fd, const std::string& data);

    UniqueFd listener_;
    UniqueFd wakeup_;   // eventfd: stop() writes it to break run()'s poll
    Handler handler_;
    ServerOptions options_;
};

}  // namespace mica::http
