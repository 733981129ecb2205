// Connection, node and capabilities procedures of the remote program.
#include <libvirt/libvirt.h>

#include <cstdio>
#include <stdexcept>

#include "Protocol.h"
#include "RemoteProgram.h"
#include "RpcError.h"
#include "config.h"
#include "i18n.h"

namespace mica::driver {

using rpc::CallContext;
using rpc::RpcError;
using rpc::XdrDecoder;
using rpc::XdrEncoder;

namespace {

// What virsh prints as "Using API: MICA ..." and "Running hypervisor: MICA ...".
constexpr const char* kDriverType = "MICA";

std::uint64_t versionNumber(const char* dotted)
{
    unsigned major = 0, minor = 0, micro = 0;
    std::sscanf(dotted, "%u.%u.%u", &major, &minor, &micro);
    return major * 1000000ull + minor * 1000ull + micro;
}

// For the procedures a client calls before CONNECT_OPEN (and CONNECT_OPEN itself).
constexpr bool kBeforeOpen = true;

// What a read-only connection may call is RemoteProcedures.def's business, not ours.
void rejectFlags(std::uint32_t flags, std::uint32_t allowed, const char* api)
{
    if (flags & ~allowed) {
        char buf[160];
        std::snprintf(buf, sizeof buf, _("unsupported flags (0x%x) in function %s"),
                      flags & ~allowed, api);
        throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, buf);
    }
}

void encodeCounters(XdrEncoder& ret, const Counters& all, std::int32_t nparams)
{
    // "Ask for the count first": nparams 0 returns no entries, only how many exist.
    std::size_t n = nparams == 0 ? 0 : std::min<std::size_t>(all.size(), static_cast<std::size_t>(nparams));
    ret.putU32(static_cast<std::uint32_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
        ret.putString(all[i].first);
        ret.putU64(all[i].second);
    }
    ret.putI32(static_cast<std::int32_t>(nparams == 0 ? all.size() : n));
}

}  // namespace

void registerConnectProcedures(rpc::Dispatcher& d, const RemoteProgramContext& ctx)
{
    addProcedure(d, rpc::kProcAuthList, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putU32(1);
        ret.putI32(rpc::kAuthNone);   // local unix socket: the kernel vouches for the peer
    }, kBeforeOpen);

    addProcedure(d, rpc::kProcConnectSupportsFeature, [](CallContext& c, XdrDecoder& args, XdrEncoder& ret) {
        std::int32_t feature = args.getI32();
        args.expectEnd();
        bool supported = false;
        switch (feature) {
        case rpc::kFeatureProgramKeepalive:
            c.session.keepaliveRequested = true;
            supported = true;
            break;
        case rpc::kFeatureTypedParamString:
        case rpc::kFeatureRemoteEventCallback:
        case rpc::kFeatureRemoteCloseCallback:
        case rpc::kFeatureNetworkUpdateHasCorrectOrder:
            supported = true;
            break;
        default:   // FD passing (8), migration, REMOTE (2, answered by the client itself)
            break;
        }
        ret.putI32(supported ? 1 : 0);
    }, kBeforeOpen);

    addProcedure(d, rpc::kProcConnectOpen, [&ctx](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        auto name = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        if (c.session.open)
            throw RpcError(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, _("internal error: connection already open"));
        c.session.uri = canonicalConnectUri(name, ctx.mode);
        c.session.readOnly = (flags & VIR_CONNECT_RO) || c.session.readOnlySocket;
        c.session.open = true;
    }, kBeforeOpen);

    addProcedure(d, rpc::kProcConnectClose, [](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        args.expectEnd();
        c.session.open = false;
        c.session.closeRequested = true;
    });

    addProcedure(d, rpc::kProcConnectRegisterCloseCallback, [](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        args.expectEnd();
        c.session.closeCallback = true;
    });
    addProcedure(d, rpc::kProcConnectUnregisterCloseCallback, [](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        args.expectEnd();
        c.session.closeCallback = false;
    });

    addProcedure(d, rpc::kProcConnectGetType, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putString(kDriverType);
    });
    addProcedure(d, rpc::kProcConnectGetVersion, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putU64(versionNumber(MICA_VERSION));
    });
    addProcedure(d, rpc::kProcConnectGetLibVersion, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        // The libvirt API level we speak: the headers we were built against.
        ret.putU64(LIBVIR_VERSION_NUMBER);
    });
    addProcedure(d, rpc::kProcConnectGetHostname, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putString(ctx.host.hostname());
    });
    addProcedure(d, rpc::kProcConnectGetUri, [](CallContext& c, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putString(c.session.uri);
    });
    addProcedure(d, rpc::kProcConnectIsSecure, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putI32(1);   // a local unix socket cannot be snooped
    });
    addProcedure(d, rpc::kProcConnectGetMaxVcpus, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        auto type = args.getOptionalString(rpc::kRemoteStringMax);
        args.expectEnd();
        if (type && !type->empty() && *type != "kvm" && *type != "KVM" && *type != "mica")
            throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN,
                           std::string(_("unknown virtualization type: ")) + *type);
        if (!ctx.caps.maxVcpus)
            throw RpcError(VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN,
                           rpc::formatMessage(_("this function is not supported by the connection driver: %s"),
                                         {"virConnectGetMaxVcpus"}));
        ret.putI32(static_cast<std::int32_t>(ctx.caps.maxVcpus()));
    });

    addProcedure(d, rpc::kProcNodeGetInfo, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        NodeInfo info = ctx.host.nodeInfo();
        ret.putFixedCharArray(info.model.substr(0, 31), 32);
        ret.putU64(info.memoryKiB);
        ret.putI32(info.cpus);
        ret.putI32(info.mhz);
        ret.putI32(info.nodes);
        ret.putI32(info.sockets);
        ret.putI32(info.cores);
        ret.putI32(info.threads);
    });
    addProcedure(d, rpc::kProcNodeGetFreeMemory, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        ret.putU64(ctx.host.freeMemoryBytes());
    });
    addProcedure(d, rpc::kProcNodeGetMemoryStats, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::int32_t nparams = args.getI32();
        std::int32_t cell = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        rejectFlags(flags, 0, "virNodeGetMemoryStats");
        if (nparams < 0 || nparams > static_cast<std::int32_t>(rpc::kRemoteNodeMemoryStatsMax))
            throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_RPC, _("nparams too large"));
        // We report the whole host as one cell.
        if (cell != VIR_NODE_MEMORY_STATS_ALL_CELLS && cell != 0)
            throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                           _("Invalid cell number: this host reports a single NUMA cell, 0"));
        encodeCounters(ret, ctx.host.memoryStats(), nparams);
    });
    addProcedure(d, rpc::kProcNodeGetCpuStats, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::int32_t cpu = args.getI32();
        std::int32_t nparams = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        rejectFlags(flags, 0, "virNodeGetCPUStats");
        if (nparams < 0 || nparams > static_cast<std::int32_t>(rpc::kRemoteNodeCpuStatsMax))
            throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_RPC, _("nparams too large"));
        Counters stats;
        try {
            stats = ctx.host.cpuStats(cpu < 0 ? -1 : cpu);
        } catch (const std::out_of_range&) {
            throw RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                           _("Invalid cpuNum: no such host CPU is online"));
        }
        encodeCounters(ret, stats, nparams);
    });
    addProcedure(d, rpc::kProcNodeGetCpuMap, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::int32_t needMap = args.getI32();
        std::int32_t needOnline = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        rejectFlags(flags, 0, "virNodeGetCPUMap");
        std::vector<bool> online = ctx.host.onlineCpuMap();
        std::uint32_t count = 0;
        for (bool b : online)
            count += b;
        std::vector<std::uint8_t> map;
        if (needMap) {
            // Bitmap, CPU 0 in the lowest bit, as many bytes as the highest CPU needs.
            map.assign((online.size() + 7) / 8, 0);
            map.resize(std::min<std::size_t>(map.size(), rpc::kRemoteCpumapMax));
            for (std::size_t i = 0; i < online.size() && i / 8 < map.size(); ++i)
                if (online[i])
                    map[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
        }
        ret.putVarOpaque(map);
        ret.putU32(needOnline ? count : 0);
        ret.putI32(static_cast<std::int32_t>(online.size()));
    });
    addProcedure(d, rpc::kProcNodeGetSecurityModel, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        // No security driver (yet): libvirt sends empty model and DOI, each as a
        // char<> holding just the NUL, which virsh shows as "Security model: none".
        ret.putU32(1);
        ret.putI32(0);
        ret.putU32(1);
        ret.putI32(0);
    });
    addProcedure(d, rpc::kProcConnectGetSysinfo, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        rejectFlags(flags, 0, "virConnectGetSysinfo");
        auto xml = ctx.host.sysinfoXml();
        if (!xml)
            throw RpcError(VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN,
                           _("this function is not supported by the connection driver: virConnectGetSysinfo "
                             "(this host's firmware publishes no SMBIOS data in /sys/class/dmi/id)"));
        ret.putString(*xml);
    });

    addProcedure(d, rpc::kProcConnectGetCapabilities, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        args.expectEnd();
        if (!ctx.caps.hostXml)
            throw RpcError(VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN,
                           _("this function is not supported by the connection driver: virConnectGetCapabilities"));
        ret.putString(ctx.caps.hostXml());
    });
    addProcedure(d, rpc::kProcConnectGetDomainCapabilities, [&ctx](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainCapsQuery q;
        q.emulatorbin = args.getOptionalString(rpc::kRemoteStringMax);
        q.arch = args.getOptionalString(rpc::kRemoteStringMax);
        q.machine = args.getOptionalString(rpc::kRemoteStringMax);
        q.virttype = args.getOptionalString(rpc::kRemoteStringMax);
        q.flags = args.getU32();
        args.expectEnd();
        if (!ctx.caps.domainXml)
            throw RpcError(VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN,
                           _("this function is not supported by the connection driver: "
                             "virConnectGetDomainCapabilities"));
        ret.putString(ctx.caps.domainXml(q));
    });
}

}  // namespace mica::driver
