// Which system calls each thread role may make, as libseccomp rules. Only the build-time
// compiler (CompileFilters.cpp) reads them: mica-vmm itself loads the programs compiled
// from them and does no libseccomp work at run time.
#pragma once

#include <seccomp.h>

#include "ThreadRole.h"

namespace mica {

// Adds `role`'s allow rules to `ctx`. Throws std::runtime_error when libseccomp refuses one.
void addRoleRules(scmp_filter_ctx ctx, ThreadRole role);

}  // namespace mica
