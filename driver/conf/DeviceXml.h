// One device element on its own (virsh attach-device, detach-device, attach-disk, ...):
// parsed by the same code as a whole domain's <devices>, then given the defaults it
// would have in that domain (MAC, alias, PCI slot); and the domain's device a detach
// names.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "DomainDef.h"

namespace mica::conf {

// The devices that can be attached and detached.
struct DeviceDef {
    std::variant<DiskDef, NetDef, ConsoleDef, RngDef, VsockDef> device;

    const std::string& alias() const;
    // How messages name it: "disk 'vdb'", "interface 52:54:00:..", "rng", ...
    std::string what() const;
};

enum class DeviceXmlUse {
    // A device to add to `domain`: refused when it would clash with one there (a disk's
    // target, a NIC's MAC or an alias in use: VIR_ERR_OPERATION_INVALID; a second rng,
    // vsock or virtio console: VIR_ERR_CONFIG_UNSUPPORTED, as in a whole domain); comes
    // back complete (MAC, alias, slot as `domain` would give them).
    Attach,
    // A device to look for in `domain` (findDevice): only parsed. The live XML's
    // <backingStore> and <source index> of a disk (what virsh detach-disk hands back)
    // are skipped.
    Detach,
};

// Throws ConfError as parseDomainXml does; an element that is not one of the devices
// above is VIR_ERR_CONFIG_UNSUPPORTED.
DeviceDef parseDeviceXml(const std::string& xml, const DomainDef& domain, DeviceXmlUse use = DeviceXmlUse::Attach);

// The alias of domain's device that `device` names: a disk by its target, a NIC by its
// MAC, the rng, vsock and virtio console by their kind; an alias given in the XML must
// be that device's too. Throws ConfError(VIR_ERR_DEVICE_MISSING) when there is none.
std::string findDevice(const DomainDef& domain, const DeviceDef& device);
// Whether domain has a PCI device with that alias.
bool hasAlias(const DomainDef& domain, const std::string& alias);
// The device with that alias (null: none).
std::optional<DeviceDef> deviceByAlias(const DomainDef& domain, const std::string& alias);

// Appends device to domain (it came from parseDeviceXml with `domain` as it is now).
void addDevice(DomainDef& domain, const DeviceDef& device);
// Removes the device with that alias; false when there is none.
bool removeDevice(DomainDef& domain, const std::string& alias);

}  // namespace mica::conf
