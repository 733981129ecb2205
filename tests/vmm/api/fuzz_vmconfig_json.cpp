// libFuzzer target: arbitrary bytes as a vm.create body. Whatever the JSON, reading it
// either gives a VmConfig whose JSON form reads back to the same JSON, or a
// ConfigError; any crash, hang, sanitizer report or other exception is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "VmConfigJson.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto json = nlohmann::json::parse(data, data + size, nullptr, false);
    if (json.is_discarded())
        return 0;
    try {
        auto config = mica::vmConfigFromJson(json);
        auto again = mica::vmConfigToJson(config);
        if (mica::vmConfigToJson(mica::vmConfigFromJson(again)) != again)
            std::abort();  // the JSON form must be a fixed point
    } catch (const mica::ConfigError&) {
    }
    return 0;
}
