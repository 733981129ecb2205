// VmConfig's one JSON form (what vm.create takes and vm.info returns; documented in
// schemas/vmconfig.schema.json and docs/vmm-api.md). Reading is strict: an unknown
// field, a wrong type or an impossible value is refused with a message naming the
// field ("cpus.boot_vcpus: expected an unsigned integer").
#pragma once

#include <nlohmann/json.hpp>

#include "Error.h"
#include "VmConfig.h"

namespace mica {

class ConfigError : public Error {
public:
    using Error::Error;
};

VmConfig vmConfigFromJson(const nlohmann::json& json);
nlohmann::json vmConfigToJson(const VmConfig& config);

}  // namespace mica
