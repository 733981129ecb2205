// VmConfig's one JSON form (what vm.create takes and vm.info returns; documented in
// schemas/vmconfig.schema.json and docs/vmm-api.md). Reading is strict: an unknown
// field or a wrong type is refused with a message naming the field
// ("cpus.boot_vcpus: expected an unsigned integer"); the values' rules are
// validateConfig()'s, which vmConfigFromJson() applies to what it read.
#pragma once

#include <nlohmann/json.hpp>

#include "VmConfig.h"

namespace mica {

VmConfig vmConfigFromJson(const nlohmann::json& json);
nlohmann::json vmConfigToJson(const VmConfig& config);

}  // namespace mica
