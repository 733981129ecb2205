// The remote program's per-domain procedures: define, start, stop, save and restore,
// query, console.
// Each decodes its arguments, asks the DomainManager and encodes the answer; the
// semantics live in domain/DomainManager. Procedures that change a domain, and those
// that need a VMM's counters, are answered later (DeferredReply): the loop goes on
// serving everyone else while the VMM works.
#include <libvirt/libvirt.h>

#include <algorithm>
#include <set>

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

// REMOTE_PROC_* of the procedures below (remote_protocol.x).
enum : std::int32_t {
    kCreate = 9, kCreateXml = 10, kDefineXml = 11, kDestroy = 12, kGetXmlDesc = 14, kGetAutostart = 15,
    kGetInfo = 16, kGetMaxMemory = 17, kGetMaxVcpus = 18, kGetOsType = 19, kGetVcpus = 20, kLookupById = 22,
    kLookupByName = 23, kLookupByUuid = 24, kReboot = 27, kResume = 28, kSetAutostart = 29, kShutdown = 33,
    kSuspend = 34, kUndefine = 35, kIsActive = 150, kIsPersistent = 151, kHasManagedSaveImage = 183,
    kRestore = 54, kSave = 55, kManagedSave = 182, kManagedSaveRemove = 184, kSaveFlags = 232, kRestoreFlags = 233,
    kSaveImageGetXmlDesc = 235, kSaveImageDefineXml = 236, kManagedSaveGetXmlDesc = 388, kManagedSaveDefineXml = 389,
    kCreateWithFlags = 196, kGetVcpusFlags = 200, kOpenConsole = 201, kIsUpdated = 202,
    kGetState = 212, kUndefineFlags = 231, kDestroyFlags = 234, kReset = 245, kShutdownFlags = 258,
    kDefineXmlFlags = 350, kGetMessages = 426, kBlockStats = 64, kInterfaceStats = 65, kMemoryStats = 159,
    kGetCpuStats = 262, kConnectGetAllDomainStats = 344,
    kGetSchedulerType = 56, kGetSchedulerParameters = 57, kSetSchedulerParameters = 58,
    kSetMemoryParameters = 197, kGetMemoryParameters = 198, kSetBlkioParameters = 205, kGetBlkioParameters = 206,
    kSetSchedulerParametersFlags = 219, kGetSchedulerParametersFlags = 223,
    kPinVcpu = 26, kPinVcpuFlags = 225, kGetVcpuPinInfo = 230, kPinEmulator = 279, kGetEmulatorPinInfo = 280,
    kGetJobInfo = 163, kAbortJob = 164, kGetJobStats = 298, kGetBlockInfo = 194,
    kSetBlockIoTune = 252, kGetBlockIoTune = 253, kBlockResize = 251,
    kSetMaxMemory = 30, kSetMemory = 31, kSetVcpus = 32, kSetVcpusFlags = 199, kSetMemoryFlags = 204,
    kSetMetadata = 264, kGetMetadata = 265, kInjectNmi = 210,
};


// REMOTE_DOMAIN_{SCHEDULER,MEMORY,BLKIO}_PARAMETERS_MAX
constexpr std::uint32_t kTuneParamsMax = 16;
constexpr std::uint32_t kBlockIoTuneParamsMax = 32;  // REMOTE_DOMAIN_BLOCK_IO_TUNE_PARAMETERS_MAX

constexpr std::uint32_t kVcpuInfoMax = 16384;   // REMOTE_VCPUINFO_MAX
constexpr std::uint32_t kCpumapsMax = 8388608;  // REMOTE_CPUMAPS_MAX
constexpr std::uint32_t kMemoryStatsMax = 1024; // REMOTE_DOMAIN_MEMORY_STATS_MAX

constexpr std::uint32_t kCpumapMax = 2048;      // REMOTE_CPUMAP_MAX

// libvirt's cpumap: bit c of byte c / 8 is host CPU c.
std::set<unsigned> cpusOfMap(const std::vector<std::uint8_t>& map)
{
    std::set<unsigned> cpus;
    for (size_t byte = 0; byte < map.size(); ++byte)
        for (unsigned bit = 0; bit < 8; ++bit)
            if (map[byte] & (1u << bit))
                cpus.insert(static_cast<unsigned>(byte * 8 + bit));
    return cpus;
}

void putCpus(std::vector<std::uint8_t>& maps, size_t at, size_t maplen, const std::set<unsigned>& cpus)
{
    for (unsigned c : cpus)
        if (c / 8 < maplen)
            maps[at + c / 8] |= static_cast<std::uint8_t>(1u << (c % 8));
}

// The ncpumaps x maplen a GET_* asked for, bounded as the client's remote driver bounds it.
void checkMaps(std::int32_t ncpumaps, std::int32_t maplen)
{
    if (ncpumaps < 0 || maplen <= 0 || static_cast<std::uint64_t>(ncpumaps) * static_cast<std::uint32_t>(maplen) > kCpumapsMax)
        throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("cpumaps request too large"));
}

using Handler = std::function<void(CallContext&, XdrDecoder&, XdrEncoder&)>;

// Whether a read-only connection may call them is RemoteProcedures.def's business.
// Procedures whose arguments are just {dom} or {dom, u32 flags}.
using DomainHandler = std::function<void(const DomainRef&, XdrEncoder&)>;
using DomainFlagsHandler = std::function<void(const DomainRef&, std::uint32_t, XdrEncoder&)>;

void addDom(rpc::Dispatcher& d, std::int32_t proc, DomainHandler h)
{
    addProcedure(d, proc, [h](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        args.expectEnd();
        h(dom, ret);
    });
}

void addDomFlags(rpc::Dispatcher& d, std::int32_t proc, DomainFlagsHandler h)
{
    addProcedure(d, proc, [h](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        h(dom, flags, ret);
    });
}

// Procedures whose arguments are {dom} or {dom, u32 flags} and that are jobs.
using DomainJob = std::function<void(const DomainRef&, std::uint32_t flags, domain::JobDone)>;

void addDomJob(rpc::Dispatcher& d, std::int32_t proc, bool hasFlags, bool returnsDomain, DomainJob job)
{
    addProcedure(d, proc, [job, hasFlags, returnsDomain](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::uint32_t flags = hasFlags ? args.getU32() : 0;
        args.expectEnd();
        job(dom, flags, jobAnswer(c, returnsDomain));
    });
}

}  // namespace

domain::JobDone jobAnswer(CallContext& c, bool returnsDomain)
{
    std::shared_ptr<rpc::DeferredReply> reply = c.defer();
    return [reply, returnsDomain](domain::JobOutcome o) {
        if (o.error) {
            reply->fail(*o.error);
            return;
        }
        XdrEncoder ret;
        if (returnsDomain)
            rpc::encodeDomain(ret, o.dom);
        reply->succeed(ret.take());
    };
}

void registerDomainOperations(rpc::Dispatcher& d, domain::DomainManager& m)
{
    // Lookups
    addProcedure(d, kLookupByName, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::string name = args.getString(rpc::kRemoteStringMax);
        args.expectEnd();
        rpc::encodeDomain(ret, m.lookupByName(name));
    });
    addProcedure(d, kLookupByUuid, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        auto bytes = args.getFixedOpaque(rpc::kUuidLength);
        args.expectEnd();
        rpc::Uuid uuid{};
        std::copy(bytes.begin(), bytes.end(), uuid.begin());
        rpc::encodeDomain(ret, m.lookupByUuid(uuid));
    });
    addProcedure(d, kLookupById, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::int32_t id = args.getI32();
        args.expectEnd();
        rpc::encodeDomain(ret, m.lookupById(id));
    });

    // Definitions
    addProcedure(d, kDefineXml, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::string xml = args.getString(rpc::kRemoteStringMax);
        args.expectEnd();
        rpc::encodeDomain(ret, m.define(xml, 0));
    });
    addProcedure(d, kDefineXmlFlags, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::string xml = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        rpc::encodeDomain(ret, m.define(xml, flags));
    });
    auto undefine = [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.undefine(dom, f, done); };
    addDomJob(d, kUndefine, false, false, undefine);
    addDomJob(d, kUndefineFlags, true, false, undefine);
    addDom(d, kGetAutostart, [&m](const DomainRef& dom, XdrEncoder& ret) { ret.putI32(m.autostart(dom)); });
    addProcedure(d, kSetAutostart, [&m](CallContext&, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t on = args.getI32();
        args.expectEnd();
        m.setAutostart(dom, on != 0);
    });

    // Lifecycle
    auto start = [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.start(dom, f, done); };
    addDomJob(d, kCreate, false, false, start);
    addDomJob(d, kCreateWithFlags, true, true, start);
    addProcedure(d, kCreateXml, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::string xml = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.createXml(xml, flags, jobAnswer(c, true));
    });
    auto destroy = [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.destroy(dom, f, done); };
    addDomJob(d, kDestroy, false, false, destroy);
    addDomJob(d, kDestroyFlags, true, false, destroy);
    auto shutdown = [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.shutdown(dom, f, done); };
    addDomJob(d, kShutdown, false, false, shutdown);
    addDomJob(d, kShutdownFlags, true, false, shutdown);
    addDomJob(d, kReboot, true, false,
              [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.reboot(dom, f, done); });
    addDomJob(d, kReset, true, false,
              [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.reset(dom, f, done); });
    addDomJob(d, kSuspend, false, false,
              [&m](const DomainRef& dom, std::uint32_t, domain::JobDone done) { m.suspend(dom, done); });
    addDomJob(d, kResume, false, false,
              [&m](const DomainRef& dom, std::uint32_t, domain::JobDone done) { m.resume(dom, done); });

    // Save images: {dom, to[, dxml, flags]}, {from[, dxml, flags]}, {file, flags}.
    addProcedure(d, kSave, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string to = args.getString(rpc::kRemoteStringMax);
        args.expectEnd();
        m.save(dom, to, std::nullopt, 0, jobAnswer(c));
    });
    addProcedure(d, kSaveFlags, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string to = args.getString(rpc::kRemoteStringMax);
        auto dxml = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.save(dom, to, dxml, flags, jobAnswer(c));
    });
    addProcedure(d, kRestore, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::string from = args.getString(rpc::kRemoteStringMax);
        args.expectEnd();
        m.restore(from, std::nullopt, 0, jobAnswer(c));
    });
    addProcedure(d, kRestoreFlags, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::string from = args.getString(rpc::kRemoteStringMax);
        auto dxml = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.restore(from, dxml, flags, jobAnswer(c));
    });
    addProcedure(d, kSaveImageGetXmlDesc, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        std::string file = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        ret.putString(m.saveImageXml(file, flags));
    });
    addProcedure(d, kSaveImageDefineXml, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::string file = args.getString(rpc::kRemoteStringMax);
        std::string dxml = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.saveImageDefine(file, dxml, flags, jobAnswer(c));
    });
    addDomFlags(d, kManagedSaveGetXmlDesc, [&m](const DomainRef& dom, std::uint32_t f, XdrEncoder& ret) {
        ret.putString(m.managedSaveXml(dom, f));
    });
    addProcedure(d, kManagedSaveDefineXml, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        auto dxml = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        if (!dxml)
            throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, _("invalid argument: dxml must not be NULL"));
        m.managedSaveDefine(dom, *dxml, flags, jobAnswer(c));
    });
    addDomJob(d, kManagedSave, true, false,
              [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) { m.managedSave(dom, f, done); });
    addDomJob(d, kManagedSaveRemove, true, false, [&m](const DomainRef& dom, std::uint32_t f, domain::JobDone done) {
        m.managedSaveRemove(dom, f, done);
    });

    // The async job (a save) watched and aborted beside it (DomainAsyncJob.cpp).
    addDom(d, kGetJobInfo, [&m](const DomainRef& dom, XdrEncoder& ret) {
        domain::JobStats s = m.jobStats(dom, 0);
        ret.putI32(s.type);
        // time elapsed, remaining; data total, processed, remaining; memory the same;
        // file the same (none).
        for (std::uint64_t v : {s.elapsedMs, std::uint64_t{0}, s.total, s.processed, s.total - s.processed, s.total,
                                s.processed, s.total - s.processed, std::uint64_t{0}, std::uint64_t{0}, std::uint64_t{0}})
            ret.putU64(v);
    });
    addDomFlags(d, kGetJobStats, [&m](const DomainRef& dom, std::uint32_t f, XdrEncoder& ret) {
        domain::JobStats s = m.jobStats(dom, f);
        ret.putI32(s.type);
        std::vector<rpc::TypedParam> params;
        if (s.type != VIR_DOMAIN_JOB_NONE)
            params = {{VIR_DOMAIN_JOB_OPERATION, static_cast<std::int32_t>(s.operation)},
                      {VIR_DOMAIN_JOB_TIME_ELAPSED, s.elapsedMs},
                      {VIR_DOMAIN_JOB_DATA_TOTAL, s.total},
                      {VIR_DOMAIN_JOB_DATA_PROCESSED, s.processed},
                      {VIR_DOMAIN_JOB_DATA_REMAINING, s.total - s.processed},
                      {VIR_DOMAIN_JOB_MEMORY_TOTAL, s.total},
                      {VIR_DOMAIN_JOB_MEMORY_PROCESSED, s.processed},
                      {VIR_DOMAIN_JOB_MEMORY_REMAINING, s.total - s.processed}};
        rpc::encodeTypedParams(ret, params);
    });
    addDom(d, kAbortJob, [&m](const DomainRef& dom, XdrEncoder&) { m.abortJob(dom); });

    // Queries
    addDom(d, kGetInfo, [&m](const DomainRef& dom, XdrEncoder& ret) {
        domain::DomainInfo i = m.info(dom);
        ret.putU32(static_cast<std::uint32_t>(i.state));   // u_char, widened
        ret.putU64(i.maxMemKiB);
        ret.putU64(i.memoryKiB);
        ret.putU32(i.vcpus);                                // u_short, widened
        ret.putU64(i.cpuTimeNs);
    });
    addDomFlags(d, kGetState, [&m](const DomainRef& dom, std::uint32_t f, XdrEncoder& ret) {
        if (f != 0)
            throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, _("invalid argument: flags must be 0"));
        auto [state, reason] = m.state(dom);
        ret.putI32(state);
        ret.putI32(reason);
    });
    addDomFlags(d, kGetXmlDesc, [&m](const DomainRef& dom, std::uint32_t f, XdrEncoder& ret) {
        ret.putString(m.xml(dom, f));
    });
    addProcedure(d, kInjectNmi, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.injectNmi(dom, flags, jobAnswer(c));
    });
    addProcedure(d, kSetMetadata, [&m](CallContext&, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t type = args.getI32();
        auto metadata = args.getOptionalString(rpc::kRemoteStringMax);
        auto key = args.getOptionalString(rpc::kRemoteStringMax);
        auto uri = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.setMetadata(dom, type, metadata, key, uri, flags);
    });
    addProcedure(d, kGetMetadata, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t type = args.getI32();
        auto uri = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        ret.putString(m.metadata(dom, type, uri, flags));
    });
    addDom(d, kIsActive, [&m](const DomainRef& dom, XdrEncoder& ret) { ret.putI32(m.isActive(dom)); });
    addDom(d, kIsPersistent, [&m](const DomainRef& dom, XdrEncoder& ret) { ret.putI32(m.isPersistent(dom)); });
    addDom(d, kIsUpdated, [&m](const DomainRef& dom, XdrEncoder& ret) { ret.putI32(m.isUpdated(dom)); });
    addDom(d, kGetOsType, [&m](const DomainRef& dom, XdrEncoder& ret) {
        m.isActive(dom);   // the domain must exist
        ret.putString("hvm");
    });
    addDom(d, kGetMaxMemory, [&m](const DomainRef& dom, XdrEncoder& ret) { ret.putU64(m.maxMemoryKiB(dom)); });
    addDom(d, kGetMaxVcpus, [&m](const DomainRef& dom, XdrEncoder& ret) {
        ret.putI32(m.vcpus(dom, VIR_DOMAIN_VCPU_MAXIMUM));
    });
    addDomFlags(d, kGetVcpusFlags, [&m](const DomainRef& dom, std::uint32_t f, XdrEncoder& ret) {
        ret.putI32(m.vcpus(dom, f));
    });
    addProcedure(d, kGetVcpus, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t maxinfo = args.getI32();
        std::int32_t maplen = args.getI32();
        args.expectEnd();
        if (maxinfo < 0 || maplen < 0 || static_cast<std::uint32_t>(maxinfo) > kVcpuInfoMax ||
            static_cast<std::uint64_t>(maxinfo) * static_cast<std::uint32_t>(maplen) > kCpumapsMax)
            throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("vCPU information request too large"));
        if (!m.isActive(dom))
            throw rpc::RpcError(VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN,
                                _("Requested operation is not valid: domain is not running"));
        // Per-vCPU times are not measured separately; the VMM's total is reported as
        // vCPU 0's. The maps are where each vCPU may run (vcpupin).
        std::uint32_t n = std::min<std::uint32_t>(static_cast<std::uint32_t>(m.vcpus(dom, 0)),
                                                  static_cast<std::uint32_t>(maxinfo));
        auto pins = m.vcpuPins(dom, VIR_DOMAIN_AFFECT_LIVE);
        domain::DomainInfo info = m.info(dom);
        ret.putU32(n);
        for (std::uint32_t i = 0; i < n; ++i) {
            ret.putU32(i);
            ret.putI32(VIR_VCPU_RUNNING);
            ret.putU64(i == 0 ? info.cpuTimeNs : 0);
            ret.putI32(-1);
        }
        std::vector<std::uint8_t> maps(static_cast<size_t>(n) * static_cast<size_t>(maplen), 0);
        for (std::uint32_t v = 0; v < n && v < pins.size(); ++v)
            putCpus(maps, v * static_cast<size_t>(maplen), static_cast<size_t>(maplen), pins[v]);
        ret.putVarOpaque(maps);
    });
    addDomFlags(d, kHasManagedSaveImage, [&m](const DomainRef& dom, std::uint32_t f, XdrEncoder& ret) {
        ret.putI32(m.hasManagedSave(dom, f));
    });
    // Mica keeps no messages (yet): the truthful answer is "none".
    addDomFlags(d, kGetMessages, [&m](const DomainRef& dom, std::uint32_t, XdrEncoder& ret) {
        m.isActive(dom);
        ret.putU32(0);
    });

    // Statistics (what virt-manager's details pages and Nova poll)
    addProcedure(d, kBlockStats, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string path = args.getString(rpc::kRemoteStringMax);
        args.expectEnd();
        auto reply = c.defer();
        m.blockStats(dom, path, [reply](domain::BlockStats s) {
            XdrEncoder ret;
            for (std::int64_t v : {s.rdReq, s.rdBytes, s.wrReq, s.wrBytes, s.errs})
                ret.putI64(v);
            reply->succeed(ret.take());
        });
    });
    addProcedure(d, kGetBlockInfo, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string path = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        domain::BlockInfo info = m.blockInfo(dom, path, flags);
        for (std::uint64_t v : {info.allocation, info.capacity, info.physical})   // remote_domain_get_block_info_ret
            ret.putU64(v);
    });
    addProcedure(d, kInterfaceStats, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string device = args.getString(rpc::kRemoteStringMax);
        args.expectEnd();
        auto reply = c.defer();
        m.interfaceStats(dom, device, [reply](domain::InterfaceStats s) {
            XdrEncoder ret;
            for (std::int64_t v :
                 {s.rxBytes, s.rxPackets, s.rxErrs, s.rxDrop, s.txBytes, s.txPackets, s.txErrs, s.txDrop})
                ret.putI64(v);
            reply->succeed(ret.take());
        });
    });
    addProcedure(d, kMemoryStats, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::uint32_t maxStats = args.getU32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        if (maxStats > kMemoryStatsMax)
            throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("too many memory statistics requested"));
        if (flags != 0)
            throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, _("invalid argument: flags must be 0"));
        auto stats = m.memoryStats(dom);
        stats.resize(std::min<size_t>(stats.size(), maxStats));
        ret.putU32(static_cast<std::uint32_t>(stats.size()));
        for (auto [tag, value] : stats) {
            ret.putI32(tag);
            ret.putU64(value);
        }
    });
    addProcedure(d, kGetCpuStats, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::uint32_t nparams = args.getU32();
        std::int32_t startCpu = args.getI32();
        std::uint32_t ncpus = args.getU32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        // The client's remote driver always adds VIR_TYPED_PARAM_STRING_OKAY.
        if (flags & ~static_cast<std::uint32_t>(VIR_TYPED_PARAM_STRING_OKAY))
            throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, _("invalid argument: unsupported flags"));
        // Only the whole domain's times: vCPU threads float over host CPUs and mica
        // does not account per host CPU.
        if (startCpu != -1 || ncpus != 1)
            throw rpc::RpcError(VIR_ERR_ARGUMENT_UNSUPPORTED, VIR_FROM_DOMAIN,
                                _("argument unsupported: per-CPU statistics are not supported by mica"));
        auto t = m.cpuTimes(dom);
        std::vector<rpc::TypedParam> params = {
            {"cpu_time", std::uint64_t(t.totalNs())}, {"user_time", std::uint64_t(t.userNs)},
            {"system_time", std::uint64_t(t.systemNs)}};
        // nparams 0 asks how many there are.
        std::int32_t count = static_cast<std::int32_t>(params.size());
        params.resize(std::min<size_t>(params.size(), nparams));
        rpc::encodeTypedParams(ret, params);
        ret.putI32(nparams ? static_cast<std::int32_t>(params.size()) : count);
    });
    // Pins (DomainTuning.cpp).
    auto pinVcpu = [&m](bool hasFlags) {
        return [&m, hasFlags](CallContext& c, XdrDecoder& args, XdrEncoder&) {
            DomainRef dom = rpc::decodeDomain(args);
            std::uint32_t vcpu = args.getU32();
            auto map = args.getVarOpaque(kCpumapMax);
            std::uint32_t flags = hasFlags ? args.getU32() : std::uint32_t{VIR_DOMAIN_AFFECT_LIVE};
            args.expectEnd();
            m.pinVcpu(dom, vcpu, cpusOfMap(map), flags, jobAnswer(c));
        };
    };
    // Resizing (DomainResize.cpp). The calls without flags are libvirt's: setmem and
    // setvcpus act on the running domain, setmaxmem on the current one.
    auto setMemory = [&m](std::optional<std::uint32_t> fixedFlags) {
        return [&m, fixedFlags](CallContext& c, XdrDecoder& args, XdrEncoder&) {
            DomainRef dom = rpc::decodeDomain(args);
            std::uint64_t kib = args.getU64();
            std::uint32_t flags = fixedFlags ? *fixedFlags : args.getU32();
            args.expectEnd();
            m.setMemory(dom, kib, flags, jobAnswer(c));
        };
    };
    addProcedure(d, kSetMaxMemory, setMemory(VIR_DOMAIN_MEM_MAXIMUM));
    addProcedure(d, kSetMemory, setMemory(VIR_DOMAIN_AFFECT_LIVE));
    addProcedure(d, kSetMemoryFlags, setMemory(std::nullopt));
    auto setVcpus = [&m](std::optional<std::uint32_t> fixedFlags) {
        return [&m, fixedFlags](CallContext& c, XdrDecoder& args, XdrEncoder&) {
            DomainRef dom = rpc::decodeDomain(args);
            std::uint32_t count = args.getU32();
            std::uint32_t flags = fixedFlags ? *fixedFlags : args.getU32();
            args.expectEnd();
            m.setVcpus(dom, count, flags, jobAnswer(c));
        };
    };
    addProcedure(d, kSetVcpus, setVcpus(VIR_DOMAIN_AFFECT_LIVE));
    addProcedure(d, kSetVcpusFlags, setVcpus(std::nullopt));
    addProcedure(d, kPinVcpu, pinVcpu(false));
    addProcedure(d, kPinVcpuFlags, pinVcpu(true));
    addProcedure(d, kGetVcpuPinInfo, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t ncpumaps = args.getI32();
        std::int32_t maplen = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        checkMaps(ncpumaps, maplen);
        auto pins = m.vcpuPins(dom, flags);
        size_t n = std::min<size_t>(pins.size(), static_cast<size_t>(ncpumaps));
        std::vector<std::uint8_t> maps(static_cast<size_t>(ncpumaps) * static_cast<size_t>(maplen), 0);
        for (size_t v = 0; v < n; ++v)
            putCpus(maps, v * static_cast<size_t>(maplen), static_cast<size_t>(maplen), pins[v]);
        ret.putVarOpaque(maps);
        ret.putI32(static_cast<std::int32_t>(n));
    });
    addProcedure(d, kPinEmulator, [&m](CallContext&, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        auto map = args.getVarOpaque(kCpumapMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.pinEmulator(dom, cpusOfMap(map), flags);
    });
    addProcedure(d, kGetEmulatorPinInfo, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        std::int32_t maplen = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        checkMaps(1, maplen);
        std::vector<std::uint8_t> map(static_cast<size_t>(maplen), 0);
        putCpus(map, 0, map.size(), m.emulatorPin(dom, flags));
        ret.putVarOpaque(map);
        ret.putI32(1);
    });
    // Tuning (DomainTuning.cpp). The scheduler's getter answers as many as asked for (the
    // client asked GET_SCHEDULER_TYPE how many there are); memory's and blkio's answer
    // the count alone when asked for none.
    addProcedure(d, kGetSchedulerType, [](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        rpc::decodeDomain(args);
        args.expectEnd();
        ret.putString("posix");
        ret.putI32(static_cast<std::int32_t>(std::count_if(conf::kTunables.begin(), conf::kTunables.end(), [](const auto& t) {
            return t.group == conf::TuneGroup::Scheduler;
        })));
    });
    auto getTune = [&m](conf::TuneGroup group, bool hasFlags, bool countOnly) {
        return [&m, group, hasFlags, countOnly](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
            DomainRef dom = rpc::decodeDomain(args);
            std::int32_t nparams = args.getI32();
            std::uint32_t flags = hasFlags ? args.getU32() : 0;
            args.expectEnd();
            if (nparams < 0 || static_cast<std::uint32_t>(nparams) > kTuneParamsMax)
                throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("nparams too large"));
            auto params = m.tuneParameters(dom, group, flags);
            auto count = static_cast<std::int32_t>(params.size());
            params.resize(std::min<size_t>(params.size(), static_cast<size_t>(nparams)));
            rpc::encodeTypedParams(ret, params);
            if (countOnly)
                ret.putI32(nparams ? static_cast<std::int32_t>(params.size()) : count);
        };
    };
    auto setTune = [&m](conf::TuneGroup group, bool hasFlags) {
        return [&m, group, hasFlags](CallContext&, XdrDecoder& args, XdrEncoder&) {
            DomainRef dom = rpc::decodeDomain(args);
            auto params = rpc::decodeTypedParams(args, kTuneParamsMax);
            std::uint32_t flags = hasFlags ? args.getU32() : 0;
            args.expectEnd();
            m.setTuneParameters(dom, group, params, flags);
        };
    };
    addProcedure(d, kGetSchedulerParameters, getTune(conf::TuneGroup::Scheduler, false, false));
    addProcedure(d, kGetSchedulerParametersFlags, getTune(conf::TuneGroup::Scheduler, true, false));
    addProcedure(d, kSetSchedulerParameters, setTune(conf::TuneGroup::Scheduler, false));
    addProcedure(d, kSetSchedulerParametersFlags, setTune(conf::TuneGroup::Scheduler, true));
    addProcedure(d, kGetMemoryParameters, getTune(conf::TuneGroup::Memory, true, true));
    addProcedure(d, kSetMemoryParameters, setTune(conf::TuneGroup::Memory, true));
    addProcedure(d, kGetBlkioParameters, getTune(conf::TuneGroup::Blkio, true, true));
    addProcedure(d, kSetBlkioParameters, setTune(conf::TuneGroup::Blkio, true));
    // blkdeviotune: asked for no parameters, the count; otherwise as many as asked for.
    addProcedure(d, kGetBlockIoTune, [&m](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
        DomainRef dom = rpc::decodeDomain(args);
        auto disk = args.getOptionalString(rpc::kRemoteStringMax);
        std::int32_t nparams = args.getI32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        if (nparams < 0 || static_cast<std::uint32_t>(nparams) > kBlockIoTuneParamsMax)
            throw rpc::RpcError(VIR_ERR_RPC, VIR_FROM_RPC, _("nparams too large"));
        if (nparams && !disk)
            throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_DOMAIN, _("invalid argument: a disk is required"));
        auto params = m.blockIoTune(dom, nparams ? disk : std::nullopt, flags);
        auto count = static_cast<std::int32_t>(params.size());
        params.resize(std::min<size_t>(params.size(), static_cast<size_t>(nparams)));
        rpc::encodeTypedParams(ret, params);
        ret.putI32(nparams ? static_cast<std::int32_t>(params.size()) : count);
    });
    addProcedure(d, kSetBlockIoTune, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string disk = args.getString(rpc::kRemoteStringMax);
        auto params = rpc::decodeTypedParams(args, kBlockIoTuneParamsMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.setBlockIoTune(dom, disk, params, flags, jobAnswer(c));
    });
    addProcedure(d, kBlockResize, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string disk = args.getString(rpc::kRemoteStringMax);
        std::uint64_t size = args.getU64();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.blockResize(dom, disk, size, flags, jobAnswer(c));
    });
    addProcedure(d, kConnectGetAllDomainStats, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        std::uint32_t n = args.getArrayCount(rpc::kRemoteDomainListMax, 24);
        std::vector<DomainRef> doms;
        for (std::uint32_t i = 0; i < n; ++i)
            doms.push_back(rpc::decodeDomain(args));
        std::uint32_t stats = args.getU32();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        auto reply = c.defer();
        m.allStats(doms, stats, flags, [reply](domain::StatsRecords records) {
            XdrEncoder ret;
            ret.putU32(static_cast<std::uint32_t>(records.size()));
            for (const auto& [dom, params] : records) {
                rpc::encodeDomain(ret, dom);
                rpc::encodeTypedParams(ret, params);
            }
            reply->succeed(ret.take());
        });
    });

    // Console: a bidirectional stream to the serial port's pty.
    addProcedure(d, kOpenConsole, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        auto devName = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.openConsole(dom, devName, flags, c.openStream());
    });
}

}  // namespace mica::driver
