// Domain listing and domain event (de)registration procedures of the remote program.
// VIR_DOMAIN_EVENT_ID_LAST is only visible with the sentinels enabled.
#define VIR_ENUM_SENTINELS
#include <libvirt/libvirt.h>

#include <algorithm>
#include <cstdio>

#include "Protocol.h"
#include "RemoteProgram.h"
#include "RpcError.h"
#include "i18n.h"

namespace mica::driver {

using rpc::CallContext;
using rpc::RpcError;
using rpc::XdrDecoder;
using rpc::XdrEncoder;

namespace {

// maxids/maxnames of the pre-0.9 listing calls: the reply may not exceed the
// protocol's bound, or the client would reject it.
std::size_t checkedMax(std::int32_t max)
{
    if (max < 0 || static_cast<std::uint32_t>(max) > rpc::kRemoteDomainListMax) {
        char buf[128];
        std::snprintf(buf, sizeof buf, _("too many domains requested: %d (at most %u)"), max,
                      rpc::kRemoteDomainListMax);
        throw RpcError(VIR_ERR_RPC, VIR_FROM_RPC, buf);
    }
    return static_cast<std::size_t>(max);
}

void checkEventId(std::int32_t eventId)
{
    if (eventId < 0 || eventId >= VIR_DOMAIN_EVENT_ID_LAST) {
        char buf[96];
        std::snprintf(buf, sizeof buf, _("unsupported event ID %d"), eventId);
        throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_RPC, buf);
    }
}

}  // namespace

void registerDomainListProcedures(rpc::Dispatcher& d, const RemoteProgramContext& ctx)
{
    addProcedure(d, rpc::kProcConnectListAllDomains, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::int32_t needResults = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        auto doms = ctx.domains.listAll(flags);
        if (doms.size() > rpc::kRemoteDomainListMax)
            doms.resize(rpc::kRemoteDomainListMax);
        if (needResults) {
            ret.putU32(static_cast<std::uint32_t>(doms.size()));
            for (const auto& dom : doms)
                rpc::encodeDomain(ret, dom);
        } else {
            ret.putU32(0);
        }
        ret.putU32(static_cast<std::uint32_t>(doms.size()));
    });
    addProcedure(d, rpc::kProcConnectNumOfDomains, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putI32(static_cast<std::int32_t>(ctx.domains.activeIds().size()));
    });
    addProcedure(d, rpc::kProcConnectListDomains, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::size_t max = checkedMax(args.getI32());
        args.expectEnd();
        auto ids = ctx.domains.activeIds();
        ids.resize(std::min(ids.size(), max));
        ret.putU32(static_cast<std::uint32_t>(ids.size()));
        for (auto id : ids)
            ret.putI32(id);
    });
    addProcedure(d, rpc::kProcConnectNumOfDefinedDomains, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putI32(static_cast<std::int32_t>(ctx.domains.inactiveNames().size()));
    });
    addProcedure(d, rpc::kProcConnectListDefinedDomains, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::size_t max = checkedMax(args.getI32());
        args.expectEnd();
        auto names = ctx.domains.inactiveNames();
        names.resize(std::min(names.size(), max));
        ret.putU32(static_cast<std::uint32_t>(names.size()));
        for (const auto& n : names)
            ret.putString(n);
    });
}

void registerEventProcedures(rpc::Dispatcher& d)
{
    addProcedure(d, rpc::kProcConnectDomainEventCallbackRegisterAny,
        [](CallContext& c, XdrDecoder& args, XdrEncoder& ret) {
            std::int32_t eventId = args.getI32();
            auto dom = rpc::decodeOptionalDomain(args);
            args.expectEnd();
            checkEventId(eventId);
            std::optional<rpc::Uuid> filter;
            if (dom)
                filter = dom->uuid;
            ret.putI32(c.session.domainEvents.add(eventId, filter));
        });
    addProcedure(d, rpc::kProcConnectDomainEventCallbackDeregisterAny,
        [](CallContext& c, XdrDecoder& args, XdrEncoder&) {
            std::int32_t callbackId = args.getI32();
            args.expectEnd();
            if (!c.session.domainEvents.remove(callbackId)) {
                char buf[96];
                std::snprintf(buf, sizeof buf, _("domain event callback %d not registered"), callbackId);
                throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_RPC, buf);
            }
        });
    addProcedure(d, rpc::kProcConnectDomainEventRegisterAny, [](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::int32_t eventId = args.getI32();
        args.expectEnd();
        checkEventId(eventId);
        if (!c.session.domainEvents.addLegacy(eventId)) {
            char buf[96];
            std::snprintf(buf, sizeof buf, _("domain event %d already registered"), eventId);
            throw RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, buf);
        }
    });
    addProcedure(d, rpc::kProcConnectDomainEventDeregisterAny, [](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::int32_t eventId = args.getI32();
        args.expectEnd();
        checkEventId(eventId);
        if (!c.session.domainEvents.removeLegacy(eventId)) {
            char buf[96];
            std::snprintf(buf, sizeof buf, _("domain event %d not registered"), eventId);
            throw RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, buf);
        }
    });
}

}  // namespace mica::driver
