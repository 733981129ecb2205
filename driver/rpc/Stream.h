// A libvirt data stream (console, screenshot, volume transfer): STREAM packets that
// reuse the (program, procedure, serial) of the CALL that opened it, in both directions.
//
// A procedure opens one with CallContext::openStream(); the REPLY to that call goes out
// first, then data flows. From the client: CONTINUE = data, OK = finish (we acknowledge
// with OK), ERROR = abort (acknowledged with OK too, as libvirtd does). From us: send()
// = CONTINUE with data, endOfData() = an empty CONTINUE (EOF, the client then finishes),
// abort() = ERROR with a remote_error. Payloads are raw bytes, not XDR.
//
// Use it on the event-loop thread only (other threads go through EventLoop::post).
// When the client disconnects, onAbort runs; the owner must drop its reference.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "Packet.h"
#include "RemoteTypes.h"

namespace mica::rpc {

class Stream {
public:
    using Sink = std::function<void(std::vector<std::uint8_t> packet)>;
    struct Handlers {
        std::function<void(std::span<const std::uint8_t>)> onData;   // client sent bytes
        std::function<void()> onFinish;                              // client finished cleanly
        std::function<void()> onAbort;                               // client aborted or left
    };

    // Largest data payload per packet: what libvirt's own peers send.
    static constexpr std::size_t kChunk = 262120;

    Stream(const Header& call, Sink sink) : call_(call), sink_(std::move(sink)) {}

    void setHandlers(Handlers h) { handlers_ = std::move(h); }
    void send(std::span<const std::uint8_t> data);
    void endOfData();
    void abort(const RemoteError& error);
    bool closed() const { return closed_; }

    // Server side -------------------------------------------------------------
    // The opening call's REPLY is queued: what send() buffered may go out now.
    void activate();
    // The opening call failed: nothing was ever live.
    void discard();
    // A STREAM packet from the client. Returns false once the stream is over.
    bool receive(const Header& header, std::span<const std::uint8_t> payload);
    // The client went away.
    void disconnected();

private:
    void emit(MessageStatus status, std::span<const std::uint8_t> payload);
    Header call_;
    Sink sink_;
    Handlers handlers_;
    bool live_ = false;
    bool closed_ = false;
    std::vector<std::vector<std::uint8_t>> early_;   // sent before the REPLY was queued
};

// The streams of one client, keyed by the opening call's (procedure, serial).
class StreamTable {
public:
    StreamTable() = default;
    StreamTable(const StreamTable&) = delete;
    StreamTable& operator=(const StreamTable&) = delete;
    ~StreamTable();

    void add(std::int32_t proc, std::uint32_t serial, std::shared_ptr<Stream> stream);
    std::shared_ptr<Stream> find(std::int32_t proc, std::uint32_t serial) const;
    void remove(std::int32_t proc, std::uint32_t serial);
    std::size_t size() const { return streams_.size(); }

private:
    std::map<std::pair<std::int32_t, std::uint32_t>, std::shared_ptr<Stream>> streams_;
};

}  // namespace mica::rpc
