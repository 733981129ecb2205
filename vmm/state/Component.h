// The contract every part of a VM with guest-visible state keeps (Cloud Hypervisor's
// Pausable + Snapshottable, in one): pause() stops it touching guest memory or raising
// interrupts until resume(); save() describes it as JSON; restore() sets it from what
// save() wrote, before the VM runs again. Snapshots, and later migration and hotplug,
// are uses of this contract.
#pragma once

#include <nlohmann/json.hpp>

#include "Error.h"

namespace mica {

// A saved state that cannot be restored: damaged, from another version, or not matching
// the VM it is restored into. The message names the component and what is wrong.
class StateError : public Error {
public:
    using Error::Error;
};

class Component {
public:
    virtual ~Component() = default;
    virtual void pause() {}
    virtual void resume() {}
    virtual nlohmann::json save() = 0;
    // Throws StateError on a state it cannot take.
    virtual void restore(const nlohmann::json& state) = 0;
};

}  // namespace mica
