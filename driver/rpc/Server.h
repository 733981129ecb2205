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
#include <string>
#include <vector>

#include "Dispatcher.h"
#include "EventLoop.h"
#include "Keepalive.h"
#include "Packet.h"
#include "Session.h"
#include "UniqueFd.h"

namespace mica::rpc {

struct ServerOptions {
    std::int64_t keepaliveIntervalMs = 5000;   // libvirtd's keepalive_interval
    int keepaliveCount = 5;                    // libvirtd's keepalive_count
    std::size_t maxClients = 1024;
    // Past this many unsent bytes a client stops being read (it must drain its replies
    // first)...
    std::size_t readPauseBytes = 1u << 20;
    // ... and past this one (events keep coming) it is dropped.
    std::size_t maxQueuedBytes = 3u * kMessageMax;
    // Calls of one client still waiting for a deferred reply before it stops being
    // read (libvirtd's max_client_requests plays this role).
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
    // When the last client left (loop clock); 0 while any is connected.
    std::int64_t idleSinceMs() const { return idleSinceMs_; }

    // Tells every client registered for lifecycle events about one.
    void emitDomainLifecycle(const DomainRef& dom, std::int32_t event, std::int32_t detail);
    void emitDomainReboot(const DomainRef& dom);

    // Keepalive pings; the owner calls this from the loop's tick.
    void tick();

private:
    struct Client;
    void accept(int listenFd, bool readOnly);
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
    std::vector<UniqueFd> listeners_;
    std::map<std::uint64_t, std::unique_ptr<Client>> clients_;
    std::uint64_t nextClientId_ = 1;
    std::int64_t idleSinceMs_;
};

}  // namespace mica::rpc
