// Per-thread system call filters. Each mica-vmm thread installs the filter of its role
// as it starts; threads it creates inherit it and add their own, so a vCPU thread ends
// with the vCPU list whoever created it. A forbidden call raises SIGSYS, whose handler
// names the thread and the call on stderr and ends the process.
#pragma once

#include <string>

#include "ThreadRole.h"

namespace mica {

enum class SeccompMode { On, Off, Log };

// Set once in main() before any thread starts.
void setSeccompMode(SeccompMode mode);
// Installs `role`'s filter on the calling thread (nothing when the mode is Off).
// Throws Error when the kernel refuses the filter.
void applySeccomp(ThreadRole role);
// The hidden --x-seccomp-selftest ROLE option: that thread makes a call outside its list.
void setSeccompSelfTest(const std::string& role);
void seccompSelfTestPoint(ThreadRole role);

}  // namespace mica
