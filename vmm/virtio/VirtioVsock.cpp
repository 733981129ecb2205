#include "VirtioVsock.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <vector>

#include "Error.h"
#include "VirtioSpec.h"
#include "i18n.h"

namespace mica::virtio {

namespace {

constexpr uint64_t kHostCid = 2;
constexpr uint16_t kTypeStream = 1;
constexpr uint16_t kOpRequest = 1, kOpResponse = 2, kOpRst = 3, kOpShutdown = 4, kOpRw = 5, kOpCreditUpdate = 6,
                   kOpCreditRequest = 7;
constexpr uint32_t kShutdownRecv = 1, kShutdownSend = 2;
constexpr uint16_t kRxQueue = 0, kTxQueue = 1;
constexpr uint32_t kBufAlloc = 256 * 1024;  // what we let the guest have in flight per connection
constexpr size_t kMaxPayload = 64 * 1024;

sockaddr_un unixAddress(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw Error("vsock: " + std::string(_("socket path too long: ")) + path);
    std::strcpy(addr.sun_path, path.c_str());
    return addr;
}

// Writes everything, waiting for the host program to read when its socket is full.
bool writeAll(int fd, std::span<const uint8_t> bytes)
{
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            bytes = bytes.subspan(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, -1);
            continue;
        }
        return false;
    }
    return true;
}

}  // namespace

VirtioVsock::VirtioVsock(uint64_t cid, const std::string& socketPath, EventLoop* loop)
    : cid_(cid), path_(socketPath), loop_(loop)
{
    auto addr = unixAddress(socketPath);
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ::unlink(socketPath.c_str());
    if (!listener_ || ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::listen(listener_.get(), 16) < 0)
        throw systemError("vsock: " + socketPath);
    watchListener();
}

void VirtioVsock::watchListener()
{
    if (loop_)
        loop_->add(listener_.get(), [this] {
            std::lock_guard lock(mutex());
            acceptHost();
        });
}

void VirtioVsock::pauseIo()
{
    if (!loop_)
        return;
    loop_->removeAndWait(listener_.get());
    for (auto& [fd, c] : handshakes_)
        loop_->removeAndWait(fd);
    std::lock_guard lock(mutex());
    handshakes_.clear();
    for (auto& [key, c] : connections_)
        if (c->polling) {
            loop_->remove(c->socket.get());
            c->polling = false;
            c->pausedPolling = true;
        }
}

void VirtioVsock::resumeIo()
{
    watchListener();
    std::lock_guard lock(mutex());
    for (auto& [key, c] : connections_)
        if (std::exchange(c->pausedPolling, false))
            poll(key, true);
}

VirtioVsock::~VirtioVsock()
{
    quiesce();
    ::unlink(path_.c_str());
}

void VirtioVsock::quiesce()
{
    if (loop_) {
        loop_->removeAndWait(listener_.get());
        for (auto& [fd, c] : handshakes_)
            loop_->removeAndWait(fd);
        for (auto& [key, c] : connections_)
            if (c->polling)
                loop_->removeAndWait(c->socket.get());
    }
    loop_ = nullptr;
}

uint16_t VirtioVsock::deviceType() const
{
    return kTypeVsock;
}

void VirtioVsock::readConfig(uint64_t offset, std::span<uint8_t> data)
{
    uint8_t config[8];
    std::memcpy(config, &cid_, 8);
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < sizeof config ? config[offset + i] : 0;
}

void VirtioVsock::reset()
{
    while (!connections_.empty())
        drop(connections_.begin()->first);
    control_.clear();
    VirtioDevice::reset();
}

void VirtioVsock::poll(Key key, bool on)
{
    Connection& c = *connections_.at(key);
    if (!loop_ || c.polling == on)
        return;
    c.polling = on;
    if (!on) {
        loop_->remove(c.socket.get());
        return;
    }
    loop_->add(c.socket.get(), [this, key] {
        std::lock_guard lock(mutex());
        if (!connections_.count(key))
            return;
        try {
            hostReadable(key);
        } catch (const VirtQueueError&) {
            poll(key, false);  // the driver's next kick reports the bad queue
        }
    });
}

void VirtioVsock::drop(Key key)
{
    auto it = connections_.find(key);
    if (it == connections_.end())
        return;
    if (it->second->polling && loop_)
        loop_->remove(it->second->socket.get());
    connections_.erase(it);
}

void VirtioVsock::acceptHost()
{
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd)
        return;
    int raw = fd.get();
    auto c = std::make_unique<Connection>();
    c->socket = std::move(fd);
    c->state = State::AwaitingConnect;
    handshakes_[raw] = std::move(c);
    loop_->add(raw, [this, raw] {
        std::lock_guard lock(mutex());
        auto it = handshakes_.find(raw);
        if (it == handshakes_.end())
            return;
        Connection& c = *it->second;
        // One byte at a time: whatever follows the line belongs to the guest.
        for (;;) {
            char ch;
            ssize_t n = ::read(raw, &ch, 1);
            if (n < 0 && errno == EAGAIN)
                return;
            bool bad = n <= 0 || c.line.size() > 32;
            if (!bad && ch != '\n') {
                c.line += ch;
                continue;
            }
            unsigned long port = 0;
            bool ok = !bad && c.line.starts_with("CONNECT ") && c.line.size() > 8 && host_;
            if (ok) {
                char* end = nullptr;
                port = std::strtoul(c.line.c_str() + 8, &end, 10);
                ok = end && *end == '\0' && port <= UINT32_MAX;
            }
            loop_->remove(raw);
            auto owned = std::move(it->second);
            handshakes_.erase(it);
            if (!ok)
                return;  // closing the socket is the answer
            owned->state = State::Connecting;
            owned->hostPort = nextHostPort_++;
            owned->guestPort = static_cast<uint32_t>(port);
            Key key{owned->hostPort, owned->guestPort};
            sendControl(*owned, kOpRequest);
            connections_[key] = std::move(owned);
            try {
                flushRx();
            } catch (const VirtQueueError&) {
            }
            return;
        }
    });
}

VsockPacketHeader VirtioVsock::headerFor(const Connection& c, uint16_t op, uint32_t len) const
{
    VsockPacketHeader h{};
    h.srcCid = kHostCid;
    h.dstCid = cid_;
    h.srcPort = c.hostPort;
    h.dstPort = c.guestPort;
    h.len = len;
    h.type = kTypeStream;
    h.op = op;
    h.bufAlloc = kBufAlloc;
    h.fwdCnt = c.fwdCnt;
    return h;
}

void VirtioVsock::sendControl(const Connection& c, uint16_t op, uint32_t flags)
{
    auto h = headerFor(c, op);
    h.flags = flags;
    control_.push_back(h);
}

void VirtioVsock::sendReset(uint32_t hostPort, uint32_t guestPort)
{
    Connection c;
    c.hostPort = hostPort;
    c.guestPort = guestPort;
    sendControl(c, kOpRst);
}

void VirtioVsock::flushRx()
{
    VirtQueue* queue = host_ ? host_->queue(kRxQueue) : nullptr;
    if (!queue)
        return;
    bool used = false;
    while (!control_.empty()) {
        auto chain = queue->pop();
        if (!chain)
            break;
        ChainWriter writer(chain->writable);
        writer.write({reinterpret_cast<const uint8_t*>(&control_.front()), sizeof(VsockPacketHeader)});
        queue->pushUsed(chain->head, static_cast<uint32_t>(writer.written()));
        control_.pop_front();
        used = true;
    }
    if (used)
        host_->notifyUsed(kRxQueue);
}

void VirtioVsock::hostReadable(Key key)
{
    Connection& c = *connections_.at(key);
    VirtQueue* queue = host_ ? host_->queue(kRxQueue) : nullptr;
    flushRx();
    uint32_t credit = c.peerBufAlloc - (c.txCnt - c.peerFwdCnt);
    if (!queue || !control_.empty() || !queue->hasAvailable() || credit == 0 || c.peerBufAlloc < c.txCnt - c.peerFwdCnt) {
        poll(key, false);  // resumes on new receive buffers or credit
        return;
    }
    auto chain = queue->pop();
    if (!chain)
        return;
    uint64_t room = chain->writableBytes();
    if (room < sizeof(VsockPacketHeader))
        throw VirtQueueError(name() + ": receive buffer smaller than a packet header");
    size_t want = std::min<uint64_t>({room - sizeof(VsockPacketHeader), credit, kMaxPayload});
    std::vector<uint8_t> data(want);
    ssize_t n = ::read(c.socket.get(), data.data(), data.size());
    VsockPacketHeader h;
    if (n > 0) {
        h = headerFor(c, kOpRw, static_cast<uint32_t>(n));
        c.txCnt += static_cast<uint32_t>(n);
    } else if (n == 0 || errno != EAGAIN) {
        // The host program closed its end: the guest sees an orderly shutdown and
        // answers with RST, which drops the connection.
        h = headerFor(c, kOpShutdown);
        h.flags = kShutdownRecv | kShutdownSend;
        poll(key, false);
    } else {
        h = headerFor(c, kOpCreditUpdate);  // nothing to read after all: a harmless packet
    }
    ChainWriter writer(chain->writable);
    writer.write({reinterpret_cast<const uint8_t*>(&h), sizeof h});
    if (n > 0)
        writer.write({data.data(), static_cast<size_t>(n)});
    queue->pushUsed(chain->head, static_cast<uint32_t>(writer.written()));
    host_->notifyUsed(kRxQueue);
}

void VirtioVsock::processQueue(uint16_t index)
{
    if (!host_)
        return;
    if (index == kTxQueue)
        transmit();
    if (index == kRxQueue || index == kTxQueue) {
        flushRx();
        // New buffers or credit: connections that stalled may go on.
        for (auto& [key, c] : connections_)
            if (c->state == State::Established && !c->polling)
                poll(key, true);
    }
}

void VirtioVsock::transmit()
{
    VirtQueue* queue = host_->queue(kTxQueue);
    if (!queue)
        return;
    bool used = false;
    while (auto chain = queue->pop()) {
        ChainReader reader(chain->readable);
        VsockPacketHeader h{};
        if (reader.read({reinterpret_cast<uint8_t*>(&h), sizeof h}) != sizeof h)
            throw VirtQueueError(name() + ": packet shorter than its header");
        handleGuestPacket(h, reader);
        queue->pushUsed(chain->head, 0);
        used = true;
    }
    if (used)
        host_->notifyUsed(kTxQueue);
}

void VirtioVsock::handleGuestPacket(const VsockPacketHeader& h, ChainReader& payload)
{
    if (h.srcCid != cid_ || h.dstCid != kHostCid || h.type != kTypeStream) {
        if (h.op != kOpRst)
            sendReset(h.dstPort, h.srcPort);
        return;
    }
    Key key{h.dstPort, h.srcPort};
    auto it = connections_.find(key);
    Connection* c = it == connections_.end() ? nullptr : it->second.get();
    if (c) {
        c->peerBufAlloc = h.bufAlloc;
        c->peerFwdCnt = h.fwdCnt;
    }
    switch (h.op) {
    case kOpRequest: {
        if (c) {
            sendReset(h.dstPort, h.srcPort);
            return;
        }
        auto addr = unixAddress(path_ + "_" + std::to_string(h.dstPort));
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
            sendReset(h.dstPort, h.srcPort);  // nobody listens there: connection refused
            return;
        }
        auto conn = std::make_unique<Connection>();
        conn->socket = std::move(fd);
        conn->hostPort = h.dstPort;
        conn->guestPort = h.srcPort;
        conn->peerBufAlloc = h.bufAlloc;
        conn->peerFwdCnt = h.fwdCnt;
        sendControl(*conn, kOpResponse);
        connections_[key] = std::move(conn);
        poll(key, true);
        return;
    }
    case kOpResponse: {
        if (!c || c->state != State::Connecting) {
            sendReset(h.dstPort, h.srcPort);
            return;
        }
        c->state = State::Established;
        std::string ok = "OK " + std::to_string(c->hostPort) + "\n";
        if (!writeAll(c->socket.get(), {reinterpret_cast<const uint8_t*>(ok.data()), ok.size()})) {
            sendReset(h.dstPort, h.srcPort);
            drop(key);
            return;
        }
        poll(key, true);
        return;
    }
    case kOpRw: {
        if (!c || c->state != State::Established) {
            sendReset(h.dstPort, h.srcPort);
            return;
        }
        std::vector<uint8_t> data(std::min<uint32_t>(h.len, kBufAlloc));
        size_t n = payload.read(data);
        if (!writeAll(c->socket.get(), {data.data(), n})) {
            sendReset(h.dstPort, h.srcPort);
            drop(key);
            return;
        }
        c->fwdCnt += static_cast<uint32_t>(n);
        // Tell the guest about the room we made before it runs out of credit.
        if (c->fwdCnt - c->lastReportedFwd >= kBufAlloc / 4) {
            c->lastReportedFwd = c->fwdCnt;
            sendControl(*c, kOpCreditUpdate);
        }
        return;
    }
    case kOpCreditRequest:
        if (c) {
            c->lastReportedFwd = c->fwdCnt;
            sendControl(*c, kOpCreditUpdate);
        }
        return;
    case kOpCreditUpdate:
        return;  // the credit was taken above; processQueue resumes stalled reads
    case kOpShutdown:
        if (!c)
            return;
        if ((h.flags & (kShutdownRecv | kShutdownSend)) == (kShutdownRecv | kShutdownSend)) {
            sendReset(h.dstPort, h.srcPort);
            drop(key);
        } else if (h.flags & kShutdownSend) {
            ::shutdown(c->socket.get(), SHUT_WR);
        }
        return;
    case kOpRst:
        drop(key);
        return;
    default:
        sendReset(h.dstPort, h.srcPort);
        return;
    }
}

}  // namespace mica::virtio
