#include "CapabilitiesHooks.h"

#include "CapabilitiesXml.h"
#include "HostProbe.h"
#include "RpcError.h"

namespace mica::driver {

// CapsError carries libvirt's code already; the domain is the capabilities module,
// as libvirt reports its own capability errors.
template <typename F>
static std::string answer(F&& f)
{
    try {
        return f();
    } catch (const caps::CapsError& e) {
        throw rpc::RpcError(static_cast<virErrorNumber>(e.code), VIR_FROM_CAPABILITIES, e.what());
    }
}

CapabilitiesHooks capabilitiesHooks(caps::Capabilities& capabilities)
{
    return {
        [&capabilities] { return answer([&] { return capabilities.hostXml(); }); },
        [&capabilities](const DomainCapsQuery& q) {
            return answer([&] { return capabilities.domainXml(q.emulatorbin, q.arch, q.machine, q.virttype); });
        },
        [&capabilities] {
            auto host = capabilities.host();
            unsigned limit = caps::guestVcpuLimit(*host);
            return limit ? limit : host->vmm.maxVcpus;
        },
    };
}

}  // namespace mica::driver
