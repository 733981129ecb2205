// Routes a CALL to the handler registered for its (program, procedure) and turns the
// outcome into a REPLY payload. Every failure, including arguments that do not decode
// and exceptions nobody expected, becomes a remote_error; nothing a client sends can
// make dispatch throw. For the remote program, ProcedureTable says what a number is
// (unknown, an event, a call we do not implement) and ReadOnlyRule what a read-only
// connection may call, implemented or not.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "Packet.h"
#include "RemoteTypes.h"
#include "Session.h"
#include "Stream.h"
#include "Xdr.h"

namespace mica::rpc {

// The answer to a call that finishes later, off the event loop (a domain driver
// waiting for mica-vmm). Exactly one REPLY goes out: the first succeed()/fail() sends
// it, and a DeferredReply dropped unanswered sends an internal error, so a client
// never waits forever. Callable from any thread; the sender hands the packet to the
// loop and drops it if the client has gone.
class DeferredReply {
public:
    using Sender = std::function<void(std::vector<std::uint8_t> packet)>;
    DeferredReply(const Header& call, Sender send) : call_(call), send_(std::move(send)) {}
    ~DeferredReply();
    DeferredReply(const DeferredReply&) = delete;
    DeferredReply& operator=(const DeferredReply&) = delete;

    void succeed(std::vector<std::uint8_t> ret);
    void fail(const RemoteError& error);

private:
    Header call_;
    Sender send_;
    std::mutex mutex_;
    bool done_ = false;
};

struct CallContext {
    Session& session;
    const Header& header;
    // Set by the server; empty where replies cannot be deferred (tests, fuzzing).
    DeferredReply::Sender sender;
    bool deferred = false;
    // Held while the handler runs, so that a handler which throws after defer() (its
    // own copies of the reply already unwound) is still answered with its error rather
    // than with "dropped without answering".
    std::shared_ptr<DeferredReply> deferredReply;
    // Set by the server; empty where streams cannot exist.
    Stream::Sink streamSink;

    // Takes over the reply: the handler's own ret is discarded and the call is
    // answered through the returned object. Throws RpcError when not possible.
    std::shared_ptr<DeferredReply> defer();
    // Opens the data stream of this call (DOMAIN_OPEN_CONSOLE and friends). It goes
    // live once the call's successful REPLY is queued, and is discarded (onAbort) if
    // the call fails. Throws RpcError when not possible.
    std::shared_ptr<Stream> openStream();
};

// Decodes its arguments from args (and must consume them: call args.expectEnd()),
// encodes its return value into ret, or throws RpcError.
using ProcedureHandler = std::function<void(CallContext& ctx, XdrDecoder& args, XdrEncoder& ret)>;

struct Procedure {
    ProcedureHandler handler;
    bool beforeOpen = false;   // callable before CONNECT_OPEN (auth, feature probes, open)
};

struct ReplyBody {
    MessageStatus status = MessageStatus::Ok;
    std::vector<std::uint8_t> payload;   // the ret struct, or a remote_error
    bool deferred = false;               // answered later through a DeferredReply
};

class Dispatcher {
public:
    // Declares a program so that calls to its unregistered procedures get "not
    // supported" rather than "unknown program".
    void addProgram(std::uint32_t prog, std::uint32_t vers);
    // Registers a handler. For the remote program, proc must be a procedure clients
    // call in ProcedureTable (std::logic_error otherwise): the table, not the
    // registration, says what a read-only connection may call.
    void add(std::uint32_t prog, std::int32_t proc, Procedure procedure);

    ReplyBody call(Session& session, const Header& header, std::span<const std::uint8_t> args,
                   DeferredReply::Sender sender = {}, Stream::Sink streamSink = {}) const;

    // The REPLY packet for a CALL: same prog/vers/proc/serial, type REPLY.
    static std::vector<std::uint8_t> replyPacket(const Header& call, const ReplyBody& body);
    static ReplyBody errorBody(const RemoteError& err);

private:
    ReplyBody callChecked(Session& session, const Header& header, std::span<const std::uint8_t> args,
                          DeferredReply::Sender sender, Stream::Sink streamSink) const;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> programs_;
    std::map<std::pair<std::uint32_t, std::int32_t>, Procedure> procedures_;
};

}  // namespace mica::rpc
