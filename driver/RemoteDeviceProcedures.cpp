// The remote program's device procedures: DOMAIN_ATTACH_DEVICE(_FLAGS),
// DOMAIN_DETACH_DEVICE(_FLAGS) and DOMAIN_DETACH_DEVICE_ALIAS (remote_protocol.x's
// structs of those names): decode, ask domain::DomainManager (DomainDevices.cpp). Their
// events go out through rpc::Server::emitDomainDevice.
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
enum : std::int32_t {
    kAttachDevice = 8, kDetachDevice = 13, kAttachDeviceFlags = 160, kDetachDeviceFlags = 161,
    kDetachDeviceAlias = 392,
};

using DeviceCall = void (domain::DomainManager::*)(const DomainRef&, const std::string&, unsigned, domain::JobDone);

// {dom, xml} or {dom, xml, flags}; without flags the call is about the running domain,
// as libvirt's virDomainAttachDevice/virDomainDetachDevice are (VIR_DOMAIN_AFFECT_LIVE).
void addDeviceProcedure(rpc::Dispatcher& d, std::int32_t proc, bool hasFlags, domain::DomainManager& m, DeviceCall call)
{
    addProcedure(d, proc, [&m, hasFlags, call](CallContext& c, XdrDecoder& args, XdrEncoder&) {
        DomainRef dom = rpc::decodeDomain(args);
        std::string xml = args.getString(rpc::kRemoteStringMax);
        std::uint32_t flags = hasFlags ? args.getU32() : std::uint32_t{VIR_DOMAIN_AFFECT_LIVE};
        args.expectEnd();
        (m.*call)(dom, xml, flags, jobAnswer(c));
    });
}

}  // namespace

void registerDeviceProcedures(rpc::Dispatcher& d, domain::DomainManager& m)
{
    addDeviceProcedure(d, kAttachDevice, false, m, &domain::DomainManager::attachDevice);
    addDeviceProcedure(d, kAttachDeviceFlags, true, m, &domain::DomainManager::attachDevice);
    addDeviceProcedure(d, kDetachDevice, false, m, &domain::DomainManager::detachDevice);
    addDeviceProcedure(d, kDetachDeviceFlags, true, m, &domain::DomainManager::detachDevice);
    // {dom, alias, flags}
    addDeviceProcedure(d, kDetachDeviceAlias, true, m, &domain::DomainManager::detachDeviceAlias);
}

}  // namespace mica::driver
