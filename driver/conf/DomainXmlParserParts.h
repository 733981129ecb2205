// The pieces of DomainXmlParser, shared between its files (not a public interface).
#pragma once

#include <cstdint>
#include <string>

#include "DomainDef.h"
#include "Xml.h"

namespace mica::conf::detail {

void parseDevices(ElementReader& devices, DomainDef& def);
// One <disk>, <interface>, <console>, <rng> or <vsock> (the devices that can be
// attached) into def, checked as in a whole domain; false (nothing read) for any other.
bool parseHotpluggable(xmlNode* node, DomainDef& def);
// Throws VIR_ERR_CONFIG_UNSUPPORTED naming a device element mica has no model for.
[[noreturn]] void refuseDevice(xmlNode* node);
// What completeDomainDef gives devices, for a whole domain or one device more: MACs,
// aliases (existing ones kept; "net<N>" above the highest in use), lowest free PCI slots
// (existing addresses kept).
void completeDevices(DomainDef& def);
// Fills defaults (uuid, MACs, PCI slots, serial <-> console) and checks what spans
// several elements (topology vs vCPUs, balloon vs currentMemory, ...).
void completeDomainDef(DomainDef& def);
// Raises VIR_ERR_XML_INVALID_SCHEMA when `doc` does not match domain.rng.
void validateAgainstSchema(xmlDoc* doc, const char* schemaPath);
// "<memory unit='MiB'>512</memory>" -> KiB, rounded up as libvirt does.
uint64_t parseMemoryKiB(ElementReader& el);

}  // namespace mica::conf::detail
