// Per-thread system call filters (libseccomp). Each mica-vmm thread installs the filter
// of its role as it starts; threads it creates inherit it and add their own, so a vCPU
// thread ends with the vCPU list whoever created it. A forbidden call raises SIGSYS,
// whose handler names the thread and the call on stderr and ends the process.
#pragma once

#include <string>

namespace mica {

enum class SeccompMode { On, Off, Log };
enum class ThreadRole {
    Vcpu,     // KVM_RUN and the device emulation it drives
    Devices,  // the event loop: console input, signals, device I/O
    Api,      // the REST API: builds and boots VMs on request
    Vm,       // runs a VM and rebuilds it on guest reboot
    Main,     // once everything is started: waits for the end, then takes it all down
};

// Set once in main() before any thread starts.
void setSeccompMode(SeccompMode mode);
// Installs `role`'s filter on the calling thread (nothing when the mode is Off).
// Throws Error when the kernel refuses the filter.
void applySeccomp(ThreadRole role);
// The hidden --x-seccomp-selftest ROLE option: that thread makes a call outside its list.
void setSeccompSelfTest(const std::string& role);
void seccompSelfTestPoint(ThreadRole role);

}  // namespace mica
