// How CONNECT_GET_CAPABILITIES and CONNECT_GET_DOMAIN_CAPABILITIES reach the
// capabilities/ library. The remote program decodes and encodes the calls;
// capabilitiesHooks() answers them from a mica::caps::Capabilities, whose CapsError
// becomes an rpc::RpcError. An empty hook answers VIR_ERR_NO_SUPPORT.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "Capabilities.h"

namespace mica::driver {

struct DomainCapsQuery {
    std::optional<std::string> emulatorbin;
    std::optional<std::string> arch;
    std::optional<std::string> machine;
    std::optional<std::string> virttype;
    std::uint32_t flags = 0;
};

struct CapabilitiesHooks {
    std::function<std::string()> hostXml;
    std::function<std::string(const DomainCapsQuery&)> domainXml;
    // virConnectGetMaxVcpus: domcapabilities' vcpu max (KVM's limit and the VMM's), or
    // the VMM's own limit on a host without KVM.
    std::function<unsigned()> maxVcpus;
};

// Hooks answering from `capabilities`, which must outlive them.
CapabilitiesHooks capabilitiesHooks(caps::Capabilities& capabilities);

}  // namespace mica::driver
