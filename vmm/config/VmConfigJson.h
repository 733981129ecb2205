// VmConfig's one JSON form (what vm.create takes and vm.info returns; documented in
// schemas/vmconfig.schema.json and docs/vmm-api.md). Reading is strict: an unknown
// field or a wrong type is refused with a message naming the field
// ("cpus.boot_vcpus: expected an unsigned integer"); the values' rules are
// validateConfig()'s, which vmConfigFromJson() applies to what it read.
#pragma once

#include <nlohmann/json.hpp>

#include "HostLimits.h"
#include "VmConfig.h"

namespace mica {

// `fds` are the fds that came with the request (index 0 first); net entries name them
// by index ("fds": [0, 1]). The config keeps those it names and closes the others.
// `limits`: the host validateConfig() checks it against (tests and fuzzing give their own).
VmConfig vmConfigFromJson(const nlohmann::json& json, std::vector<UniqueFd> fds = {},
                          const HostLimits& limits = thisHost());
nlohmann::json vmConfigToJson(const VmConfig& config);

// vm.add-disk's and vm.add-net's bodies: one entry of vm.create's "disks" or "net",
// read as strictly. The values' rules are validateConfig()'s, for the caller to apply to
// the whole configuration with the device in it.
DiskConfig diskConfigFromJson(const nlohmann::json& json);
NetConfig netConfigFromJson(const nlohmann::json& json);

// A disk's "iotune" object (and vm.disk-iotune's): libvirt's <iotune> field names, each
// an unsigned integer, 0 or absent for "not limited". Throws ConfigError naming `path`'s
// field; the values' rules are ioLimitsProblem()'s.
IoLimits ioLimitsFromJson(const nlohmann::json& json, const std::string& path);
nlohmann::json ioLimitsToJson(const IoLimits& limits);  // the fields set only

}  // namespace mica
