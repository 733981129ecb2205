// The domain capabilities document as a contract at define time: what a definition asks
// for among the values domcapabilities enumerates (CPU modes, the vCPU limit, memory
// backing source types, disk devices, buses and models, rng models and back ends) must be
// advertised there, or the definition is refused with VIR_ERR_CONFIG_UNSUPPORTED naming
// the value — as libvirt validates device definitions against its domain capabilities.
// The parser refuses what mica can never do; this refuses what this host and this VMM
// cannot do now (no /dev/kvm, a smaller KVM vCPU limit, a VMM without memfd).
#pragma once

#include <string>

#include "DomainDef.h"

namespace mica::conf {

// Throws ConfError(VIR_ERR_CONFIG_UNSUPPORTED); a malformed document throws
// ConfError(VIR_ERR_XML_ERROR).
void checkAgainstDomainCaps(const DomainDef& def, const std::string& domainCapsXml);

}  // namespace mica::conf
