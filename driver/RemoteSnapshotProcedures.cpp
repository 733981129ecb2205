// The remote program's snapshot procedures (remote_protocol.x's
// remote_domain_snapshot_* and remote_domain_list_all_snapshots): decode, ask
// domain::DomainManager (DomainSnapshot.cpp), encode. A snapshot travels as
// remote_nonnull_domain_snapshot: its name, then its domain.
#include <libvirt/libvirt.h>

#include <algorithm>

#include "DomainManager.h"
#include "Protocol.h"
#include "RemoteProgram.h"
#include "RpcError.h"
#include "i18n.h"

namespace mica::driver {

using rpc::CallContext;
using rpc::DomainRef;
using rpc::XdrDecoder;
using rpc::XdrEncoder;

namespace {

// REMOTE_PROC_* (remote_protocol.x).
enum : std::int32_t {
    kCreateXml = 185, kGetXmlDesc = 186, kNum = 187, kListNames = 188, kLookupByName = 189, kHasCurrent = 190,
    kCurrent = 191, kRevert = 192, kDelete = 193, kGetParent = 244, kNumChildren = 246, kListChildrenNames = 247,
    kIsCurrent = 271, kHasMetadata = 272, kListAll = 274, kListAllChildren = 275,
};

constexpr std::uint32_t kSnapshotListMax = 1024;   // REMOTE_DOMAIN_SNAPSHOT_LIST_MAX

struct SnapshotRef {
    std::string name;
    DomainRef dom;
};

SnapshotRef decodeSnapshot(XdrDecoder& args)
{
    SnapshotRef s;
    s.name = args.getString(rpc::kRemoteStringMax);
    s.dom = rpc::decodeDomain(args);
    return s;
}

void encodeSnapshot(XdrEncoder& ret, const std::string& name, const DomainRef& dom)
{
    ret.putString(name);
    rpc::encodeDomain(ret, dom);
}

using Handler = std::function<void(CallContext&, XdrDecoder&, XdrEncoder&)>;

// {snap, u32 flags} -> whatever `h` encodes.
void addSnapFlags(rpc::Dispatcher& d, std::int32_t proc,
                  std::function<void(const SnapshotRef&, std::uint32_t, XdrEncoder&)> h)
{
    addProcedure(d, proc, [h](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        SnapshotRef s = decodeSnapshot(args);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        h(s, flags, ret);
    });
}

// A names listing bounded by the caller's maxnames (and the protocol's limit).
void putNames(XdrEncoder& ret, std::vector<std::string> names, std::int32_t maxnames)
{
    if (maxnames < 0 || static_cast<std::uint32_t>(maxnames) > kSnapshotListMax)
        throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("too many snapshot names requested"));
    names.resize(std::min<size_t>(names.size(), static_cast<size_t>(maxnames)));
    ret.putU32(static_cast<std::uint32_t>(names.size()));
    for (const auto& n : names)
        ret.putString(n);
}

// remote_domain_list_all_snapshots_ret: the snapshots (when asked for), then the count.
void putAll(XdrEncoder& ret, const std::vector<std::string>& names, const DomainRef& dom, bool needResults)
{
    if (names.size() > kSnapshotListMax)
        throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("too many snapshots to list"));
    ret.putU32(needResults ? static_cast<std::uint32_t>(names.size()) : 0);
    if (needResults)
        for (const auto& n : names)
            encodeSnapshot(ret, n, dom);
    ret.putI32(static_cast<std::int32_t>(names.size()));
}

}  // namespace

void registerSnapshotProcedures(rpc::Dispatcher& d, domain::DomainManager& m)
{
    addProcedure(d, kCreateXml, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string xml = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        auto reply = c.defer();
        m.createSnapshot(dom, xml, flags, [reply](domain::JobOutcome o, const std::string& name) {
            if (o.error) {
                reply->fail(*o.error);
                return;
            }
            XdrEncoder ret;
            encodeSnapshot(ret, name, o.dom);
            reply->succeed(ret.take());
        });
    });
    addSnapFlags(d, kGetXmlDesc, [&m](const SnapshotRef& s, std::uint32_t f, XdrEncoder& ret) {
        ret.putString(m.snapshotXml(s.dom, s.name, f));
    });
    addProcedure(d, kNum, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        ret.putI32(static_cast<std::int32_t>(m.snapshotNames(dom, std::nullopt, flags).size()));
    });
    addProcedure(d, kListNames, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t maxnames = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        putNames(ret, m.snapshotNames(dom, std::nullopt, flags), maxnames);
    });
    addProcedure(d, kListAll, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t needResults = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        putAll(ret, m.snapshotNames(dom, std::nullopt, flags), m.lookupByUuid(dom.uuid), needResults != 0);
    });
    addSnapFlags(d, kNumChildren, [&m](const SnapshotRef& s, std::uint32_t f, XdrEncoder& ret) {
        ret.putI32(static_cast<std::int32_t>(m.snapshotNames(s.dom, s.name, f).size()));
    });
    addProcedure(d, kListChildrenNames, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        SnapshotRef s = decodeSnapshot(args);
        std::int32_t maxnames = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        putNames(ret, m.snapshotNames(s.dom, s.name, flags), maxnames);
    });
    addProcedure(d, kListAllChildren, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        SnapshotRef s = decodeSnapshot(args);
        std::int32_t needResults = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        putAll(ret, m.snapshotNames(s.dom, s.name, flags), m.lookupByUuid(s.dom.uuid), needResults != 0);
    });
    addProcedure(d, kLookupByName, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string name = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        if (flags)
            throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, _("invalid argument: flags must be 0"));
        m.checkSnapshot(dom, name);
        encodeSnapshot(ret, name, m.lookupByUuid(dom.uuid));
    });
    addProcedure(d, kHasCurrent, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        args.getU32();   // flags: none defined
        args.expectEnd();
        ret.putI32(m.currentSnapshot(dom) ? 1 : 0);
    });
    addProcedure(d, kCurrent, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        args.getU32();
        args.expectEnd();
        auto current = m.currentSnapshot(dom);
        if (!current)
            throw rpc::RpcError(VIR_ERR_NO_DOMAIN_SNAPSHOT, VIR_FROM_DOMAIN_SNAPSHOT,
                                _("Domain snapshot not found: the domain does not have a current snapshot"));
        encodeSnapshot(ret, *current, m.lookupByUuid(dom.uuid));
    });
    addSnapFlags(d, kGetParent, [&m](const SnapshotRef& s, std::uint32_t, XdrEncoder& ret) {
        encodeSnapshot(ret, m.snapshotParent(s.dom, s.name), m.lookupByUuid(s.dom.uuid));
    });
    addSnapFlags(d, kIsCurrent, [&m](const SnapshotRef& s, std::uint32_t, XdrEncoder& ret) {
        ret.putI32(m.snapshotIsCurrent(s.dom, s.name) ? 1 : 0);
    });
    addSnapFlags(d, kHasMetadata, [&m](const SnapshotRef& s, std::uint32_t, XdrEncoder& ret) {
        m.checkSnapshot(s.dom, s.name);
        ret.putI32(1);   // every snapshot mica knows of is its metadata
    });
    addProcedure(d, kRevert, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        SnapshotRef s = decodeSnapshot(args);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.revertSnapshot(s.dom, s.name, flags, jobAnswer(c));
    });
    addProcedure(d, kDelete, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        SnapshotRef s = decodeSnapshot(args);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.deleteSnapshot(s.dom, s.name, flags, jobAnswer(c));
    });
}

}  // namespace mica::driver
