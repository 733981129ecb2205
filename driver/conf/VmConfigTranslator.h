// DomainDef -> the VmConfig JSON mica-vmm's `vm.create` takes (schemas/vmconfig.schema.json),
// plus what the daemon must do on the host before starting the VMM.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "DomainDef.h"

namespace mica::conf {

// Inputs that depend on where and when the domain runs, kept out of DomainDef so
// translation is a pure function (and golden tests are deterministic).
struct RuntimePaths {
    // Per-domain sockets go in the VMM's run directory, stateDir/NAME/vmm/ (the
    // daemon's layout: domain/DomainStore.h).
    std::string stateDir = "/run/libvirt/mica";
    // The CID the daemon allocated for <cid auto='yes'/> (ignored for a fixed CID).
    unsigned autoVsockCid = 3;

    std::string vmmDir(const DomainDef& def) const { return stateDir + "/" + def.name + "/vmm"; }
};

// Something the daemon does on the host before the VMM starts: the VMM only opens
// TAP devices that exist.
struct HostAction {
    enum class Kind { CreateTap };
    Kind kind = Kind::CreateTap;
    std::string tap;     // interface name to create (or reuse, when it exists)
    std::string bridge;  // non-empty: attach the TAP to this bridge
    std::optional<unsigned> mtu;

    nlohmann::ordered_json toJson() const;
};

struct Translation {
    nlohmann::ordered_json config;  // VmConfig, snake_case, sizes in bytes
    std::vector<HostAction> hostActions;
};

// The TAP name mica uses for interface `index` when <target dev> is absent: derived
// from the uuid so two domains never collide and a restart reuses the same name.
std::string generatedTapName(const DomainDef& def, size_t index);

Translation toVmConfig(const DomainDef& def, const RuntimePaths& paths);
// One entry of the VmConfig's "disks" / "net" (without "id" and "pci_slot", which the
// device walk adds), as vm.create and vm.add-disk / vm.add-net take it; a NIC's TAP by
// name ("tap", which the daemon replaces by the fds of its queues).
nlohmann::ordered_json diskConfig(const DiskDef& disk);
nlohmann::ordered_json netConfig(const NetDef& net, const std::string& tap);
// A disk's <iotune> as its VmConfig "iotune" object (and vm.disk-iotune's): the fields
// set, by the names both share.
nlohmann::ordered_json ioLimitsJson(const IoLimits& limits);

// One PCI device of a domain as mica-vmm knows it: the id it goes by in the VmConfig and
// vm.info (its alias; a disk's target, which block jobs and I/O limits name it by), how
// messages name it, its address and alias in the definition, and where its object sits
// in the VmConfig (config[configKey] or config[configKey][index]).
// `Address` and `Alias` are const for a walk that only reads.
template <class Address, class Alias>
struct BasicPciDeviceRef {
    std::string id;
    std::string what;
    Address* address;
    std::string configKey;
    std::optional<size_t> index;
    Alias* alias;
};
using PciDeviceRef = BasicPciDeviceRef<std::optional<PciAddress>, std::string>;
using ConstPciDeviceRef = BasicPciDeviceRef<const std::optional<PciAddress>, const std::string>;
// In the order mica-vmm lists them (disks, NICs, console, rng, vsock, balloon).
std::vector<PciDeviceRef> pciDevices(DomainDef& def);
std::vector<ConstPciDeviceRef> pciDevices(const DomainDef& def);

// Sets every device's address from vm.info's "device_tree" (id -> {"pci_bdf": ...}):
// the live XML says where the VMM put each device. Throws std::runtime_error when a
// device is missing or its address is not one mica's XML can describe.
void applyDeviceTree(DomainDef& def, const nlohmann::json& tree);

}  // namespace mica::conf
