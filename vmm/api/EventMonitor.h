// --event-monitor: one JSON object per line for each lifecycle event, with a timestamp,
// so virtmicad can raise libvirt events without polling. Written from any thread.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "UniqueFd.h"

namespace mica {

class EventMonitor {
public:
    EventMonitor() = default;  // disabled: emit() does nothing
    // "path=PATH" (appended to, created 0600) or "fd=N" (inherited); throws Error.
    explicit EventMonitor(const std::string& spec);

    // {"timestamp": {"secs": S, "nanos": N}, "source": "vm", "event": EVENT, "properties": {...}}
    // Events: starting, booting, booted, paused, resumed, power-button, reboot, shutdown,
    // deleted, vmm-error, device-added, device-removed, device-removal-failed (PCI
    // hotplug). A reader that went away costs nothing but the event.
    void emit(const std::string& event, const nlohmann::json& properties = nullptr);

private:
    std::mutex mutex_;
    UniqueFd fd_;
};

}  // namespace mica
