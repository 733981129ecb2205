// The roles a mica-vmm thread plays, each with a seccomp filter of its own. Shared by the
// VMM (Seccomp.cpp) and the build-time filter compiler (CompileFilters.cpp), which emits
// one program per role in this order.
#pragma once

#include <iterator>

namespace mica {

enum class ThreadRole {
    Vcpu,     // KVM_RUN and the device emulation it drives
    Devices,  // the event loop: console input, signals, device I/O
    Api,      // the REST API: builds and boots VMs on request
    Vm,       // runs a VM and rebuilds it on guest reboot
    Main,     // once everything is started: waits for the end, then takes it all down
};

inline constexpr ThreadRole kThreadRoles[] = {ThreadRole::Vcpu, ThreadRole::Devices, ThreadRole::Api,
                                              ThreadRole::Vm, ThreadRole::Main};
static_assert([] {
    for (int i = 0; i < static_cast<int>(std::size(kThreadRoles)); ++i)
        if (static_cast<int>(kThreadRoles[i]) != i)
            return false;
    return true;
}(), "kThreadRoles lists the roles in their enum order: the compiled filters are indexed by it");

constexpr const char* roleName(ThreadRole role)
{
    switch (role) {
    case ThreadRole::Vcpu: return "vcpu";
    case ThreadRole::Devices: return "devices";
    case ThreadRole::Api: return "api";
    case ThreadRole::Vm: return "vm";
    case ThreadRole::Main: return "main";
    }
    return "?";
}

}  // namespace mica
