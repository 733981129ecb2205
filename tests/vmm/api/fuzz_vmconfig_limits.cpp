// libFuzzer target: a vm.create body read against a host's limits (config/HostLimits).
// The first 4 bytes pick the host (the most vCPUs, the RAM a process may map, the
// guest-physical address bits, RLIMIT_NOFILE), the rest is the JSON body. A config that
// is accepted must fit that host, figure by figure, and validate again unchanged; one
// that is not must be a ConfigError. Any crash, overflow (UBSan), hang or other
// exception is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "ValidateConfig.h"
#include "VmConfigJson.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 4)
        return 0;
    mica::HostLimits limits;
    limits.maxVcpus = 1u + data[0];
    limits.memoryBytes = (16ull << 20) << (data[1] % 40);
    limits.physAddressBits = 32u + data[2] % 21;
    limits.openFiles = 64u + data[3] * 16u;
    auto json = nlohmann::json::parse(data + 4, data + size, nullptr, false);
    if (json.is_discarded())
        return 0;
    try {
        mica::VmConfig config = mica::vmConfigFromJson(json, {}, limits);
        if (config.cpus.boot > config.cpus.max || config.cpus.max > limits.maxVcpus ||
            config.memory.size > limits.memoryBytes || mica::fdsNeeded(config) > limits.openFiles)
            std::abort();   // accepted past a limit
        auto again = mica::vmConfigToJson(config);
        mica::validateConfig(config, limits);   // its own result passes unchanged
        if (mica::vmConfigToJson(config) != again)
            std::abort();
    } catch (const mica::ConfigError&) {
    }
    return 0;
}
