#include "Server.h"

#include "RpcError.h"
#include "i18n.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mica::rpc {

struct Server::Client {
    Client(std::uint64_t id, UniqueFd fd, Keepalive keepalive, Listening& listener)
        : id(id), fd(std::move(fd)), keepalive(keepalive), listener(listener) {}

    std::uint64_t id;
    UniqueFd fd;
    Session session;
    PacketReader reader;
    Keepalive keepalive;
    Listening& listener;
    std::int64_t acceptedMs = EventLoop::nowMs();
    bool anonymous = true;         // CONNECT_OPEN not yet completed
    std::deque<std::vector<std::uint8_t>> out;
    std::size_t outPeak = 0;       // most packets queued at once since the queue was last empty
    std::size_t outOffset = 0;     // bytes of out.front() already written
    std::size_t queuedBytes = 0;
    std::size_t inFlight = 0;      // calls whose deferred reply is still to come
    bool dead = false;             // close at the next opportunity
    bool dispatching = false;      // inside a handler: do not re-enter the reader
    bool yielded = false;          // spent its turn: not read until its resume runs
    std::uint32_t interest = 0;
};

namespace {

// Calls of one client handled before the others get a turn.
constexpr int kCallsPerTurn = 32;

// Packets an emptied output queue may have held before its (deque) blocks are freed.
constexpr std::size_t kKeptOutPackets = 64;

}  // namespace

Server::Server(EventLoop& loop, const Dispatcher& dispatcher, ServerOptions options)
    : loop_(loop), dispatcher_(dispatcher), options_(options),
      budget_(options.maxIncomingBytes, options.continuingClients), idleSinceMs_(EventLoop::nowMs())
{
}

Server::~Server()
{
    for (auto& [id, c] : clients_)
        loop_.unwatch(c->fd.get());
    for (auto& l : listeners_)
        loop_.unwatch(l->fd.get());
}

void Server::addListener(UniqueFd fd, bool readOnly)
{
    auto l = std::make_unique<Listening>();
    l->fd = std::move(fd);
    l->readOnly = readOnly;
    Listening* raw = l.get();
    listeners_.push_back(std::move(l));
    loop_.watch(raw->fd.get(), EPOLLIN, [this, raw](std::uint32_t) { accept(*raw); });
    updateAccepting();
}

std::size_t Server::clientCount(bool readOnly) const
{
    std::size_t n = 0;
    for (const auto& l : listeners_)
        if (l->readOnly == readOnly)
            n += l->clients;
    return n;
}

std::size_t Server::anonymousCount() const
{
    std::size_t n = 0;
    for (const auto& l : listeners_)
        n += l->anonymous;
    return n;
}

bool Server::mayAccept(const Listening& l) const
{
    if (clients_.size() >= options_.maxClients || l.anonymous >= options_.maxAnonymousClients)
        return false;
    std::size_t readOnlySlots = options_.maxClients > options_.readWriteReservedClients
                                    ? options_.maxClients - options_.readWriteReservedClients : 0;
    return !l.readOnly || clientCount(true) < readOnlySlots;
}

void Server::updateAccepting()
{
    // A socket out of slots is not watched: connections wait in its backlog (their
    // connect() blocks once it is full) instead of being accepted only to be closed,
    // which would cost the daemon a wakeup per attempt of a client retrying in a loop.
    for (auto& l : listeners_) {
        bool want = mayAccept(*l);
        if (want != l->accepting) {
            loop_.modify(l->fd.get(), want ? std::uint32_t{EPOLLIN} : 0u);
            l->accepting = want;
        }
    }
}

void Server::accept(Listening& l)
{
    while (mayAccept(l)) {
        int fd = ::accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                std::fprintf(stderr, "virtmicad: accept: %s\n", std::strerror(errno));
            break;
        }
        UniqueFd owned(fd);
        auto c = std::make_unique<Client>(nextClientId_++, std::move(owned),
                                          Keepalive{options_.keepaliveIntervalMs, options_.keepaliveCount}, l);
        c->session.clientId = c->id;
        c->session.readOnlySocket = l.readOnly;
        std::uint64_t id = c->id;
        c->interest = EPOLLIN;
        try {
            loop_.watch(c->fd.get(), EPOLLIN, [this, id](std::uint32_t ev) { onClientEvents(id, ev); });
        } catch (const std::exception& e) {
            std::fprintf(stderr, "virtmicad: refusing a client: %s\n", e.what());
            continue;
        }
        clients_.emplace(id, std::move(c));
        ++l.clients;
        ++l.anonymous;
        idleSinceMs_ = 0;
    }
    updateAccepting();
}

void Server::leaveAnonymity(Client& c)
{
    if (!c.anonymous || !c.session.open)
        return;
    c.anonymous = false;
    --c.listener.anonymous;
    updateAccepting();
}

void Server::account(Client& c)
{
    if (budget_.update(c.id, c.reader.heldBytes(), c.reader.partialLength() > PacketReader::kSmallPacket))
        wakeReaders();
}

void Server::wakeReaders()
{
    // From the loop's top level: account() runs deep inside reads and dispatches.
    if (wakePosted_)
        return;
    wakePosted_ = true;
    loop_.post([this] {
        wakePosted_ = false;
        std::set<std::uint64_t> stopped;
        stopped.swap(budgetStopped_);
        for (auto id : stopped) {
            auto it = clients_.find(id);
            if (it != clients_.end())
                updateInterest(*it->second);
        }
    });
}

void Server::onClientEvents(std::uint64_t id, std::uint32_t events)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    Client& c = *it->second;
    bool ok = true;
    if (events & EPOLLOUT)
        ok = flush(c);
    // A hang-up still lets us read what the client sent before it; read() then
    // returns 0 and we close.
    if (ok && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (c.interest & EPOLLIN) && !c.yielded)
        ok = readFrom(c);
    else if (events & (EPOLLHUP | EPOLLERR))
        ok = false;   // gone while paused: nobody is left to read the replies
    if (ok && !c.dead)
        ok = flush(c);
    if (!ok || (c.dead && c.out.empty())) {
        close(id);
        return;
    }
    updateInterest(c);
}

bool Server::readFrom(Client& c)
{
    // Bounded per wakeup so a client streaming calls cannot starve the others: so many
    // bytes, and so many calls handled (what it sent beyond waits in the reader and in
    // the socket until its next turn).
    int handled = 0;
    for (int round = 0; round < 16 && budget_.mayRead(c.id); ++round) {
        std::uint8_t buf[65536];
        ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            return false;
        }
        if (n == 0)
            return false;
        c.keepalive.onReceive(EventLoop::nowMs());
        bool appended = c.reader.append({buf, static_cast<std::size_t>(n)});
        account(c);
        if (!appended) {
            std::fprintf(stderr, "virtmicad: client %llu: %s\n",
                         static_cast<unsigned long long>(c.id), c.reader.error().c_str());
            return false;
        }
        while (auto pkt = c.reader.next()) {
            account(c);
            bool ok = handlePacket(c, *pkt);
            pkt.reset();   // its payload (up to 32 MiB) goes now, not at the next packet
            if (!ok)
                return false;
            if (c.dead || paused(c))
                return true;   // stop reading; the rest stays buffered in the reader
            if (++handled == kCallsPerTurn) {
                yieldTurn(c);
                return true;
            }
        }
        if (c.reader.invalid()) {
            std::fprintf(stderr, "virtmicad: client %llu: %s\n",
                         static_cast<unsigned long long>(c.id), c.reader.error().c_str());
            return false;
        }
    }
    return true;
}

bool Server::handlePacket(Client& c, Packet& pkt)
{
    const Header& h = pkt.header;
    if (h.prog == kKeepaliveProgram && h.type == MessageType::Message) {
        if (h.proc == kKeepalivePing) {
            Header pong{kKeepaliveProgram, kKeepaliveVersion, kKeepalivePong,
                        MessageType::Message, 0, MessageStatus::Ok};
            queue(c, encodePacket(pong, {}));
        }
        return true;   // PONG: receiving it already reset the keepalive clock
    }
    switch (h.type) {
    case MessageType::Call: {
        bool wasKeepalive = c.session.keepaliveRequested;
        // A deferred reply comes back from any thread through the loop.
        auto sender = [this, id = c.id](std::vector<std::uint8_t> packet) {
            loop_.post([this, id, packet = std::move(packet)]() mutable { deliver(id, std::move(packet)); });
        };
        auto streamSink = [this, id = c.id](std::vector<std::uint8_t> packet) {
            sendTo(id, std::move(packet));
        };
        c.dispatching = true;   // a handler may emit events, which update this client
        ReplyBody body = dispatcher_.call(c.session, h, pkt.payload, sender, streamSink);
        c.dispatching = false;
        if (body.deferred) {
            ++c.inFlight;
        } else {
            queue(c, Dispatcher::replyPacket(h, body));
            settleStream(c, h.proc, h.serial, body.status);
        }
        if (!wasKeepalive && c.session.keepaliveRequested)
            c.keepalive.start(EventLoop::nowMs());
        leaveAnonymity(c);
        if (c.session.closeRequested)
            c.dead = true;
        return true;
    }
    case MessageType::CallWithFds: {
        // We advertise no FD passing (feature 8 = 0); the kernel already closed any
        // descriptors because recv() offered no room for them.
        RpcError err(VIR_ERR_RPC, VIR_FROM_RPC,
                     _("file descriptor passing is not supported by this daemon"));
        queue(c, Dispatcher::replyPacket(h, Dispatcher::errorBody(err.error())));
        return true;
    }
    case MessageType::Stream: {
        // Packets for streams that are gone are dropped, as libvirtd does.
        auto stream = c.session.streams.find(h.proc, h.serial);
        if (stream && !stream->receive(h, pkt.payload))
            c.session.streams.remove(h.proc, h.serial);
        return true;
    }
    case MessageType::StreamHole:
        return true;   // only for sparse volume transfers, which we do not offer
    case MessageType::Message:
        return true;   // clients send no events; ignore rather than fail
    case MessageType::Reply:
    case MessageType::ReplyWithFds:
        std::fprintf(stderr, "virtmicad: client %llu sent a reply; dropping it\n",
                     static_cast<unsigned long long>(c.id));
        return false;
    }
    return false;
}

void Server::queue(Client& c, std::vector<std::uint8_t> bytes)
{
    if (c.dead)
        return;
    if (c.queuedBytes + bytes.size() > options_.maxQueuedBytes) {
        std::fprintf(stderr, "virtmicad: client %llu does not read its replies; dropping it\n",
                     static_cast<unsigned long long>(c.id));
        c.dead = true;
        c.out.clear();
        c.queuedBytes = 0;
        c.outOffset = 0;
        return;
    }
    c.queuedBytes += bytes.size();
    c.out.push_back(std::move(bytes));
    c.outPeak = std::max(c.outPeak, c.out.size());
}

bool Server::flush(Client& c)
{
    while (!c.out.empty()) {
        const auto& front = c.out.front();
        ssize_t n = ::send(c.fd.get(), front.data() + c.outOffset, front.size() - c.outOffset,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            return false;
        }
        c.outOffset += static_cast<std::size_t>(n);
        c.queuedBytes -= static_cast<std::size_t>(n);
        if (c.outOffset == front.size()) {
            c.out.pop_front();
            c.outOffset = 0;
        }
    }
    if (c.outPeak > kKeptOutPackets)
        std::deque<std::vector<std::uint8_t>>().swap(c.out);   // a burst's blocks go with it
    c.outPeak = 0;
    return true;
}

void Server::yieldTurn(Client& c)
{
    // Its calls go on after what the other clients and the loop have waiting now.
    c.yielded = true;
    loop_.post([this, id = c.id] {
        auto it = clients_.find(id);
        if (it == clients_.end())
            return;
        it->second->yielded = false;
        updateInterest(*it->second);
    });
}

bool Server::paused(const Client& c) const
{
    return c.queuedBytes > options_.readPauseBytes || c.inFlight >= options_.maxInFlight;
}

void Server::updateInterest(Client& c)
{
    // Packets left in the reader while the client was paused are handled as soon as
    // there is room again, without waiting for the peer to send more bytes.
    for (int handled = 0; !c.yielded && !c.dispatching && !c.dead && !paused(c) && c.reader.buffered() > 0;) {
        auto pkt = c.reader.next();
        if (!pkt) {
            if (c.reader.invalid())
                c.dead = true;
            break;
        }
        account(c);
        if (!handlePacket(c, *pkt))
            c.dead = true;
        else if (++handled == kCallsPerTurn && c.reader.buffered() > 0)
            yieldTurn(c);
    }
    if (!flush(c)) {
        c.dead = true;
        c.out.clear();
    }
    if (c.dead && c.out.empty()) {
        // Closed from the loop's top level: callers up the stack may still hold c.
        loop_.post([this, id = c.id] { close(id); });
        return;
    }
    std::uint32_t want = 0;
    if (!c.dead && !paused(c) && !c.yielded) {
        if (budget_.mayRead(c.id))
            want |= EPOLLIN;
        else
            budgetStopped_.insert(c.id);
    }
    if (!c.out.empty())
        want |= EPOLLOUT;
    if (want != c.interest) {
        loop_.modify(c.fd.get(), want);
        c.interest = want;
    }
}

void Server::settleStream(Client& c, std::int32_t proc, std::uint32_t serial, MessageStatus replyStatus)
{
    auto stream = c.session.streams.find(proc, serial);
    if (!stream)
        return;
    if (replyStatus == MessageStatus::Ok) {
        stream->activate();
    } else {
        stream->discard();
        c.session.streams.remove(proc, serial);
    }
}

void Server::deliver(std::uint64_t id, std::vector<std::uint8_t> packet)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;   // the client left before its answer was ready
    Client& c = *it->second;
    if (c.inFlight > 0)
        --c.inFlight;
    // The packet is a REPLY we built: its header is well-formed.
    PacketReader reader;
    reader.append(packet);
    auto reply = reader.next();
    queue(c, std::move(packet));
    if (reply)
        settleStream(c, reply->header.proc, reply->header.serial, reply->header.status);
    updateInterest(c);
}

void Server::sendTo(std::uint64_t id, std::vector<std::uint8_t> packet)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    queue(*it->second, std::move(packet));
    updateInterest(*it->second);
}

void Server::close(std::uint64_t id)
{
    auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    loop_.unwatch(it->second->fd.get());
    // Out of the table before it dies: its streams' abort handlers may try to send.
    std::unique_ptr<Client> client = std::move(it->second);
    clients_.erase(it);
    --client->listener.clients;
    if (client->anonymous)
        --client->listener.anonymous;
    budgetStopped_.erase(id);
    if (budget_.remove(id))
        wakeReaders();
    client.reset();   // its event registrations and streams go with its Session
    if (clients_.empty())
        idleSinceMs_ = EventLoop::nowMs();
    updateAccepting();
}

void Server::emitDomainLifecycle(const DomainRef& dom, std::int32_t event, std::int32_t detail)
{
    broadcast([&](const Session& s) { return lifecycleEventPackets(s.domainEvents, dom, event, detail); });
}

void Server::emitDomainReboot(const DomainRef& dom)
{
    broadcast([&](const Session& s) { return rebootEventPackets(s.domainEvents, dom); });
}

void Server::emitDomainBlockJob(const DomainRef& dom, const std::string& path, const std::string& target,
                                std::int32_t type, std::int32_t status)
{
    broadcast([&](const Session& s) { return blockJobEventPackets(s.domainEvents, dom, path, target, type, status); });
}

void Server::emitDomainDevice(const DomainRef& dom, std::int32_t eventId, const std::string& alias)
{
    broadcast([&](const Session& s) { return deviceEventPackets(s.domainEvents, dom, eventId, alias); });
}

void Server::emitDomainMetadata(const DomainRef& dom, std::int32_t type, const std::optional<std::string>& nsUri)
{
    broadcast([&](const Session& s) { return metadataChangeEventPackets(s.domainEvents, dom, type, nsUri); });
}

void Server::broadcast(const std::function<std::vector<std::vector<std::uint8_t>>(const Session&)>& packetsFor)
{
    // May run inside a procedure handler of some client: nothing is closed here
    // (updateInterest defers closing to the loop).
    for (auto& [id, c] : clients_) {
        if (!c->session.open)
            continue;
        bool queued = false;
        for (auto& pkt : packetsFor(c->session)) {
            queue(*c, std::move(pkt));
            queued = true;
        }
        if (queued)
            updateInterest(*c);
    }
}

void Server::tick()
{
    std::int64_t now = EventLoop::nowMs();
    std::vector<std::uint64_t> drop;
    for (auto& [id, c] : clients_) {
        if (c->anonymous && options_.anonymousTimeoutMs > 0 && now - c->acceptedMs >= options_.anonymousTimeoutMs) {
            std::fprintf(stderr, "virtmicad: client %llu did not open a connection within %lld ms; dropping it\n",
                         static_cast<unsigned long long>(id), static_cast<long long>(options_.anonymousTimeoutMs));
            drop.push_back(id);
            continue;
        }
        switch (c->keepalive.tick(now)) {
        case Keepalive::Action::None:
            break;
        case Keepalive::Action::Ping: {
            Header ping{kKeepaliveProgram, kKeepaliveVersion, kKeepalivePing,
                        MessageType::Message, 0, MessageStatus::Ok};
            queue(*c, encodePacket(ping, {}));
            updateInterest(*c);
            break;
        }
        case Keepalive::Action::Drop:
            std::fprintf(stderr, "virtmicad: client %llu stopped answering keepalive; dropping it\n",
                         static_cast<unsigned long long>(id));
            drop.push_back(id);
            break;
        }
    }
    for (auto id : drop)
        close(id);
}

}  // namespace mica::rpc
