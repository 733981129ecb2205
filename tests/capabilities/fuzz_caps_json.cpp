// Fuzzes the JSON readers of capabilities/: firmware descriptors (a session daemon reads
// them from the user's own config directory), the VMM's --features answer and recorded
// KVM answers. Each must either parse or throw; nothing else.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "FirmwareDescriptors.h"
#include "KvmProbe.h"
#include "VmmFeatures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        mica::caps::parseFirmwareDescriptor("fuzz.json", text);
    } catch (const std::exception&) {
    }
    try {
        mica::caps::parseVmmFeatures(text);
    } catch (const std::exception&) {
    }
    try {
        mica::caps::parseRecordedKvm(text);
    } catch (const std::exception&) {
    }
    return 0;
}
