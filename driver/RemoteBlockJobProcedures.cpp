// The remote program's block job procedures: DOMAIN_BLOCK_COMMIT, DOMAIN_GET_BLOCK_JOB_INFO
// and DOMAIN_BLOCK_JOB_ABORT (remote_protocol.x's structs of those names): decode, ask
// domain::DomainManager (DomainBlockJob.cpp), encode. Their events go out through
// rpc::Server::emitDomainBlockJob.
#include <libvirt/libvirt.h>

#include "DomainManager.h"
#include "Protocol.h"
#include "RemoteProgram.h"
#include "RpcError.h"

namespace mica::driver {

using rpc::CallContext;
using rpc::DomainRef;
using rpc::XdrDecoder;
using rpc::XdrEncoder;

namespace {

// REMOTE_PROC_* (remote_protocol.x).
enum : std::int32_t { kBlockJobAbort = 237, kGetBlockJobInfo = 238, kBlockCommit = 290 };

}  // namespace

void registerBlockJobProcedures(rpc::Dispatcher& d, domain::DomainManager& m)
{
    // {dom, disk, base?, top?, u64 bandwidth, u32 flags}
    addProcedure(d, kBlockCommit, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string disk = args.getString(rpc::kRemoteStringMax);
        auto base = args.getOptionalString(rpc::kRemoteStringMax);
        auto top = args.getOptionalString(rpc::kRemoteStringMax);
        std::uint64_t bandwidth = args.getU64();
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.blockCommit(dom, disk, base, top, bandwidth, flags, jobAnswer(c));
    });
    // {dom, path, flags} -> {found, type, bandwidth, cur, end}
    addProcedure(d, kGetBlockJobInfo, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string path = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        auto reply = c.defer();
        m.blockJobInfo(dom, path, flags, [reply](std::optional<rpc::RemoteError> err, domain::BlockJobInfo info) {
            if (err) {
                reply->fail(*err);
                return;
            }
            XdrEncoder ret;
            ret.putI32(info.found ? 1 : 0);
            ret.putI32(info.type);
            ret.putU64(0);   // bandwidth: not limited
            ret.putU64(info.cur);
            ret.putU64(info.end);
            reply->succeed(ret.take());
        });
    });
    // {dom, path, flags}: VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT pivots, otherwise cancels.
    addProcedure(d, kBlockJobAbort, [&m](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string path = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = args.getU32();
        args.expectEnd();
        m.blockJobAbort(dom, path, flags, jobAnswer(c));
    });
}

}  // namespace mica::driver
