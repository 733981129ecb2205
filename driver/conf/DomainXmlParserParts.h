// The pieces of DomainXmlParser, shared between its files (not a public interface).
#pragma once

#include <cstdint>
#include <string>

#include "DomainDef.h"
#include "Xml.h"

namespace mica::conf::detail {

void parseDevices(ElementReader& devices, DomainDef& def);
// Fills defaults (uuid, MACs, PCI slots, serial <-> console) and checks what spans
// several elements (topology vs vCPUs, balloon vs currentMemory, ...).
void completeDomainDef(DomainDef& def);
// Raises VIR_ERR_XML_INVALID_SCHEMA when `doc` does not match domain.rng.
void validateAgainstSchema(xmlDoc* doc, const char* schemaPath);
// "<memory unit='MiB'>512</memory>" -> KiB, rounded up as libvirt does.
uint64_t parseMemoryKiB(ElementReader& el);

}  // namespace mica::conf::detail
