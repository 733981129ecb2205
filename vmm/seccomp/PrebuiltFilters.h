// The BPF programs of the thread roles, compiled at build time from FilterRules.cpp (as
// Firecracker's seccompiler does), so that a thread installs its filter with one
// seccomp(2) call and no libseccomp work. meson generates PrebuiltFilters.cpp, which
// defines prebuiltFilter(), by running CompileFilters.cpp.
#pragma once

#include <linux/filter.h>

#include "ThreadRole.h"

namespace mica {

// What a call outside the role's list does. Both variants are compiled by libseccomp
// itself (only its default action differs), rather than patching return values here.
enum class ForbiddenCall {
    Trap,  // SIGSYS: the handler names the thread and the call and ends the process
    Log,   // allowed, and logged to the kernel audit log (--seccomp log)
};

struct PrebuiltFilter {
    const sock_filter* code;
    unsigned short length;  // sock_fprog's type for the instruction count
};

PrebuiltFilter prebuiltFilter(ThreadRole role, ForbiddenCall action);

}  // namespace mica
