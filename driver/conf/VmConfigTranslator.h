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
    std::string stateDir = "/run/libvirt/mica";  // per-domain sockets go in stateDir/NAME/
    // The CID the daemon allocated for <cid auto='yes'/> (ignored for a fixed CID).
    unsigned autoVsockCid = 3;

    std::string domainDir(const DomainDef& def) const { return stateDir + "/" + def.name; }
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

}  // namespace mica::conf
