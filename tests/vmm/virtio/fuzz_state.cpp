// libFuzzer target for snapshot state (state.json is untrusted input: a file anyone may
// have edited): the fuzzer's bytes are parsed as JSON and each part is restored into a
// fresh component: the serial port, RTC, i8042, ACPI PM and a virtio-rng transport over
// 16 MiB of guest memory whose queue the restored state points anywhere. A component
// may refuse (StateError); anything else escaping, or a crash, is a bug. A restored
// virtio device is then kicked, so rings the state placed badly are walked too.
#include <cstddef>
#include <cstdint>

#include "AcpiPm.h"
#include "CmosRtc.h"
#include "I8042.h"
#include "Serial8250.h"
#include "StateJson.h"
#include "VirtioPciDevice.h"
#include "VirtioRng.h"

using namespace mica;

namespace {

template <typename Restore>
void tryRestore(const nlohmann::json& all, const char* key, Restore restore)
{
    if (!all.contains(key))
        return;
    try {
        restore(all[key]);
    } catch (const StateError&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    auto all = nlohmann::json::parse(data, data + size, nullptr, false);
    if (all.is_discarded() || !all.is_object())
        return 0;
    static const GuestMemory memory(16ull << 20, 0xc0000000, 0x100000000);
    tryRestore(all, "serial", [](const nlohmann::json& s) { Serial8250([](bool) {}, nullptr).restore(s); });
    tryRestore(all, "rtc", [](const nlohmann::json& s) { CmosRtc().restore(s); });
    tryRestore(all, "i8042", [](const nlohmann::json& s) { I8042([] {}).restore(s); });
    tryRestore(all, "acpi-pm", [](const nlohmann::json& s) { AcpiPm([](bool) {}, 5, [] {}).restore(s); });
    tryRestore(all, "virtio", [](const nlohmann::json& s) {
        virtio::VirtioPciDevice device(std::make_shared<virtio::VirtioRng>("/dev/zero"), memory, nullptr, nullptr, nullptr);
        device.restore(s);
        device.resume();
        device.kick(0);
    });
    return 0;
}
