#include "Dispatcher.h"

#include <libvirt/virterror.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "ProcedureTable.h"
#include "ReadOnlyRule.h"
#include "RpcError.h"
#include "i18n.h"

namespace mica::rpc {

namespace {

// The module libvirt's public API layer names in its "not supported" and
// "read only access prevents" errors (VIR_FROM_THIS of the libvirt-*.c defining it).
virErrorDomain moduleOf(std::string_view name)
{
    if (name.find("NODE_DEVICE") != std::string_view::npos)
        return VIR_FROM_NODEDEV;
    if (name.find("SECRET") != std::string_view::npos)
        return VIR_FROM_SECRET;
    if (name.find("STORAGE") != std::string_view::npos)
        return VIR_FROM_STORAGE;
    if (name.find("NWFILTER") != std::string_view::npos)
        return VIR_FROM_NWFILTER;
    if (name.find("NETWORK") != std::string_view::npos)
        return VIR_FROM_NETWORK;
    if (name.find("INTERFACE") != std::string_view::npos &&
        name.find("DOMAIN") == std::string_view::npos)
        return VIR_FROM_INTERFACE;
    return VIR_FROM_DOMAIN;
}

}  // namespace

void Dispatcher::addProgram(std::uint32_t prog, std::uint32_t vers)
{
    programs_.emplace_back(prog, vers);
}

void Dispatcher::add(std::uint32_t prog, std::int32_t proc, Procedure procedure)
{
    if (prog == kRemoteProgram) {
        const RemoteProcedure* known = findRemoteProcedure(proc);
        if (!known || known->kind != ProcedureKind::Call)
            throw std::logic_error("Dispatcher::add: remote procedure " + std::to_string(proc) +
                                   " is not a call in RemoteProcedures.def");
    }
    procedures_[{prog, proc}] = std::move(procedure);
}

ReplyBody Dispatcher::errorBody(const RemoteError& err)
{
    XdrEncoder enc;
    encodeRemoteError(enc, err);
    return {MessageStatus::Error, enc.take()};
}

std::vector<std::uint8_t> Dispatcher::replyPacket(const Header& call, const ReplyBody& body)
{
    Header h = call;
    h.type = MessageType::Reply;
    h.status = body.status;
    return encodePacket(h, body.payload);
}

DeferredReply::~DeferredReply()
{
    RpcError err(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
                 _("internal error: the driver dropped this call without answering it"));
    fail(err.error());
}

void DeferredReply::succeed(std::vector<std::uint8_t> ret)
{
    std::lock_guard lock(mutex_);
    if (std::exchange(done_, true))
        return;
    send_(Dispatcher::replyPacket(call_, {MessageStatus::Ok, std::move(ret), false}));
}

void DeferredReply::fail(const RemoteError& error)
{
    std::lock_guard lock(mutex_);
    if (std::exchange(done_, true))
        return;
    send_(Dispatcher::replyPacket(call_, Dispatcher::errorBody(error)));
}

std::shared_ptr<DeferredReply> CallContext::defer()
{
    if (!sender)
        throw RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
                       _("internal error: this call cannot be answered asynchronously here"));
    deferred = true;
    auto reply = std::make_shared<DeferredReply>(header, sender);
    deferredReply = reply;
    return reply;
}

namespace {

// What a client is told about an exception that escaped a handler.
RemoteError toRemoteError(const std::exception_ptr& ex)
{
    try {
        std::rethrow_exception(ex);
    } catch (const RpcError& e) {
        return e.error();
    } catch (const XdrError& e) {
        std::string msg = formatMessage(_("Unable to decode message payload: %s"), {e.what()});
        return RpcError(VIR_ERR_RPC, VIR_FROM_RPC, msg).error();
    } catch (const std::exception& e) {
        std::string msg = formatMessage(_("internal error: %s"), {e.what()});
        return RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, msg).error();
    } catch (...) {
        return RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, _("internal error: unknown exception")).error();
    }
}

}  // namespace

std::shared_ptr<Stream> CallContext::openStream()
{
    if (!streamSink)
        throw RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
                       _("internal error: this call cannot open a data stream here"));
    if (session.streams.find(header.proc, header.serial))
        throw RpcError(VIR_ERR_RPC, VIR_FROM_STREAMS, _("a stream with this serial is already open"));
    auto stream = std::make_shared<Stream>(header, streamSink);
    session.streams.add(header.proc, header.serial, stream);
    return stream;
}

ReplyBody Dispatcher::call(Session& session, const Header& header,
                           std::span<const std::uint8_t> args, DeferredReply::Sender sender,
                           Stream::Sink streamSink) const
{
    try {
        return callChecked(session, header, args, std::move(sender), std::move(streamSink));
    } catch (...) {
        return errorBody(toRemoteError(std::current_exception()));
    }
}

ReplyBody Dispatcher::callChecked(Session& session, const Header& header,
                                  std::span<const std::uint8_t> args,
                                  DeferredReply::Sender sender, Stream::Sink streamSink) const
{
    if (header.status != MessageStatus::Ok)
        throw RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("Unexpected message status in a call"));
    bool knownProgram = std::find(programs_.begin(), programs_.end(),
                                  std::pair{header.prog, header.vers}) != programs_.end();
    if (!knownProgram) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%u version %u", header.prog, header.vers);
        throw RpcError(VIR_ERR_RPC, VIR_FROM_RPC, formatMessage(_("Cannot find program %s"), {buf}));
    }
    bool remote = header.prog == kRemoteProgram;
    auto it = procedures_.find({header.prog, header.proc});
    const Procedure* proc = it == procedures_.end() ? nullptr : &it->second;

    // As libvirtd: a number with no server-side procedure (not in the table, or an
    // event, which only servers send) is unknown whatever the connection's state.
    const RemoteProcedure* known = remote ? findRemoteProcedure(header.proc) : nullptr;
    bool exists = remote ? known && known->kind == ProcedureKind::Call : proc != nullptr;
    if (!exists)
        throw RpcError(VIR_ERR_RPC, VIR_FROM_RPC,
                       formatMessage(_("unknown procedure: %s"), {std::to_string(header.proc)}));

    if (!session.open && !(proc && proc->beforeOpen))
        throw RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
                       _("internal error: connection not open; call virConnectOpen first"));
    if (session.readOnly || session.readOnlySocket) {
        // Other programs have no ACL table to go by: nothing of theirs is read-only.
        ReadOnlyVerdict verdict = remote ? readOnlyVerdict(header.proc, args)
                                         : ReadOnlyVerdict{false, "procedure " + std::to_string(header.proc)};
        if (!verdict.allowed)
            throw RpcError(VIR_ERR_OPERATION_DENIED, remote ? moduleOf(known->name) : VIR_FROM_NONE,
                           formatMessage(_("operation forbidden: read only access prevents %s"),
                                         {verdict.refused}));
    }
    if (!proc)
        throw RpcError(VIR_ERR_NO_SUPPORT, moduleOf(known->name),
                       formatMessage(_("this function is not supported by the connection driver: %s"),
                                     {remoteProcedureApiName(header.proc)}));

    XdrDecoder dec(args);
    XdrEncoder enc;
    CallContext ctx{session, header, std::move(sender), false, {}, std::move(streamSink)};
    try {
        proc->handler(ctx, dec, enc);
    } catch (...) {
        if (!ctx.deferred)
            throw;
        // The reply belongs to the DeferredReply now: answer the error through it.
        std::exchange(ctx.deferredReply, nullptr)->fail(toRemoteError(std::current_exception()));
        return {MessageStatus::Ok, {}, true};
    }
    // Whoever the handler gave the reply to answers it; nobody: its destructor does.
    ctx.deferredReply.reset();
    if (ctx.deferred)
        return {MessageStatus::Ok, {}, true};
    return {MessageStatus::Ok, enc.take(), false};
}

}  // namespace mica::rpc
