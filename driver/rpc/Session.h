// What the protocol remembers about one client connection, apart from its socket:
// whether CONNECT_OPEN succeeded, read-only-ness, keepalive and event registrations.
// Kept free of I/O so procedure handlers and tests can use it without a socket.
#pragma once

#include <cstdint>
#include <string>

#include "DomainEvents.h"
#include "Stream.h"

namespace mica::rpc {

struct Session {
    std::uint64_t clientId = 0;
    bool readOnlySocket = false;      // accepted on the -ro socket: read-only whatever it asks
    bool open = false;                // CONNECT_OPEN succeeded
    bool readOnly = false;            // the open connection may not change state
    bool keepaliveRequested = false;  // asked CONNECT_SUPPORTS_FEATURE(PROGRAM_KEEPALIVE)
    bool closeCallback = false;       // CONNECT_REGISTER_CLOSE_CALLBACK
    bool closeRequested = false;      // CONNECT_CLOSE: hang up once the reply is out
    std::string uri;                  // canonical URI of the open connection
    DomainEventRegistry domainEvents;
    StreamTable streams;   // last member: aborting them on disconnect may look at the rest
};

}  // namespace mica::rpc
