// The RPC server: accepts clients on listening unix sockets, frames their packets,
// dispatches CALLs, answers keepalive, delivers events, and writes replies without
// ever blocking: each client has its own output queue, flushed as its socket drains,
// so one slow reader cannot stall the others.
//
// Replies a handler defers (DeferredReply) arrive through EventLoop::post; whoever
// holds DeferredReply objects must be shut down before the Server and its loop.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "Dispatcher.h"
#include "EventLoop.h"
#include "InputBudget.h"
#include "Keepalive.h"
#include "Packet.h"
#include "Session.h"
#include "UniqueFd.h"

namespace mica::rpc {

struct ServerOptions {
    std::int64_t keepaliveIntervalMs = 5000;   // libvirtd's keepalive_interval
    int keepaliveCount = 5;                    // libvirtd's keepalive_count
    // Clients of all sockets together (libvirtd's max_clients). A socket whose budget is
    // spent stops accepting: new connections wait in its backlog, as with libvirtd.
    std::size_t maxClients = 5000;
    // Of those, slots read-only clients never get: whoever can reach the 0666 read-only
    // socket cannot lock root out of the read-write one.
    std::size_t readWriteReservedClients = 64;
    // Per socket: connections that have not completed CONNECT_OPEN ("anonymous",
    // libvirtd's max_anonymous_clients counts unauthenticated ones). At the limit the
    // socket stops accepting until one opens, leaves or times out; per socket, so
    // silent read-only connections do not stop the read-write socket accepting.
    std::size_t maxAnonymousClients = 20;
    // An anonymous connection is closed after this long (0: never).
    std::int64_t anonymousTimeoutMs = 30000;
    // Bytes all clients' readers may hold in messages still arriving before reading
    // slows down (InputBudget.h), and how many clients with large partial messages go
    // on reading past it.
    std::size_t maxIncomingBytes = 256u << 20;
    std::size_t continuingClients = 4;
    // Past this many unsent bytes a client stops being read (it must drain its replies
    // first)...
    std::size_t readPauseBytes = 1u << 20;
    // ... and past this one (events keep coming) it is dropped.
    std::size_t maxQueuedBytes = 3u * kMessageMax;
    // Calls of one client still waiting for a deferred reply before it stops being
    // read (libvirtd's max_client_requests).
    std::size_t maxInFlight = 16;
};

class Server {
public:
    Server(EventLoop& loop, const Dispatcher& dispatcher, ServerOptions options = {});
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Serves a listening socket; clients accepted on a readOnly one may only read.
    void addListener(UniqueFd fd, bool readOnly);

    std::size_t clientCount() const { return clients_.size(); }
    // Clients accepted on read-only / read-write sockets, and those not yet open.
    std::size_t clientCount(bool readOnly) const;
    std::size_t anonymousCount() const;
    // Bytes the clients' readers hold now (the figure maxIncomingBytes caps).
    std::size_t incomingBytes() const { return budget_.held(); }
    // When the last client left (loop clock); 0 while any is connected.
    std::int64_t idleSinceMs() const { return idleSinceMs_; }

    // Tells every client registered for lifecycle events about one.
    void emitDomainLifecycle(const DomainRef& dom, std::int32_t event, std::int32_t detail);
    void emitDomainReboot(const DomainRef& dom);
    void emitDomainBlockJob(const DomainRef& dom, const std::string& path, const std::string& target,
                            std::int32_t type, std::int32_t status);
    // VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, _REMOVED or _REMOVAL_FAILED of a device alias.
    void emitDomainDevice(const DomainRef& dom, std::int32_t eventId, const std::string& alias);
    void emitDomainMetadata(const DomainRef& dom, std::int32_t type, const std::optional<std::string>& nsUri);

    // Keepalive pings and the anonymous timeout; the owner calls this from the loop's tick.
    void tick();

private:
    struct Client;
    struct Listening {
        UniqueFd fd;
        bool readOnly = false;
        std::size_t clients = 0;
        std::size_t anonymous = 0;
        bool accepting = true;
    };
    void accept(Listening& l);
    bool mayAccept(const Listening& l) const;
    void updateAccepting();
    void leaveAnonymity(Client& c);
    void account(Client& c);   // tells the budget what c's reader holds now
    void wakeReaders();        // re-arms clients the budget stopped, once it lets them
    void onClientEvents(std::uint64_t id, std::uint32_t events);
    bool readFrom(Client& c);      // false: close it
    bool handlePacket(Client& c, Packet& pkt);
    void queue(Client& c, std::vector<std::uint8_t> bytes);
    void deliver(std::uint64_t id, std::vector<std::uint8_t> packet);   // a deferred reply
    void sendTo(std::uint64_t id, std::vector<std::uint8_t> packet);    // e.g. stream data
    void settleStream(Client& c, std::int32_t proc, std::uint32_t serial, MessageStatus replyStatus);
    bool flush(Client& c);         // false: close it
    void updateInterest(Client& c);
    bool paused(const Client& c) const;   // not read until replies drain
    void yieldTurn(Client& c);            // handled its share of calls: resume later
    void close(std::uint64_t id);
    void broadcast(const std::function<std::vector<std::vector<std::uint8_t>>(const Session&)>& packetsFor);

    EventLoop& loop_;
    const Dispatcher& dispatcher_;
    ServerOptions options_;
    std::vector<std::unique_ptr<Listening>> listeners_;
    std::map<std::uint64_t, std::unique_ptr<Client>> clients_;
    InputBudget budget_;
    std::set<std::uint64_t> budgetStopped_;   // not read for the budget's sake
    bool wakePosted_ = false;
    std::uint64_t nextClientId_ = 1;
    std::int64_t idleSinceMs_;
};

}  // namespace mica::rpc
