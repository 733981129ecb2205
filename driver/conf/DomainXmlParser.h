// libvirt domain XML -> DomainDef.
#pragma once

#include <libvirt/libvirt.h>

#include <string>

#include "DomainDef.h"

namespace mica::conf {

// Flags: VIR_DOMAIN_DEFINE_VALIDATE validates against libvirt's domain.rng first.
// Throws ConfError: VIR_ERR_XML_ERROR (malformed or semantically invalid XML),
// VIR_ERR_XML_INVALID_SCHEMA (validation), VIR_ERR_CONFIG_UNSUPPORTED (valid libvirt XML
// mica cannot honour; the message names the element, attribute or value).
DomainDef parseDomainXml(const std::string& xml, unsigned flags = 0);

// Where domain.rng is looked for (libvirt's installed schemas).
inline constexpr const char* kDomainSchemaPath = "/usr/share/libvirt/schemas/domain.rng";

}  // namespace mica::conf
