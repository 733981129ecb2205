// DomainDef -> libvirt domain XML (what `virsh dumpxml` shows).
#pragma once

#include <libvirt/libvirt.h>

#include <string>

#include "DomainDef.h"

namespace mica::conf {

// Flags: VIR_DOMAIN_XML_INACTIVE leaves out what only a running domain has (id, pty
// paths, an allocated vsock CID); VIR_DOMAIN_XML_SECURE would include secrets (mica keeps
// none yet, so it changes nothing, but callers pass it through as libvirt's do).
// Defaults the parser filled in (uuid, MACs, PCI addresses, console) are always written,
// so format -> parse -> format is a fixed point.
std::string formatDomainXml(const DomainDef& def, unsigned flags = 0);

}  // namespace mica::conf
