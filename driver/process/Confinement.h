// How a VMM process is confined (design.md: "each VMM runs confined"), as Firecracker's
// jailer does it: a uid and gid of its own, taken from a range the administrator set
// aside (virtmicad --vmm-uids), so one VMM cannot touch another's files nor the
// daemon's; no supplementary groups; no capabilities (bounding set emptied, then the
// uid change clears the rest) and no_new_privs; a cgroup of its own. What it needs of
// the host comes as fds (VmmLaunch: /dev/kvm, TAP queues, kernel, images) or lives in
// its domain's run directory, which it owns.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "Jail.h"
#include "UniqueFd.h"

namespace mica::process {

struct ConfinementPolicy {
    uid_t firstUid = 0, lastUid = 0;   // inclusive; each running domain takes one
    // Or, with `user` set (--vmm-user, the system user an install creates), every VMM
    // runs as that user's uid and primary gid: its namespaces still keep each VMM away
    // from the others' files, and its pid namespace from their processes.
    std::string user;
    uid_t userUid = 0;
    gid_t userGid = 0;
    std::string cgroupParent;          // a cgroup v2 directory; each VMM gets a child of it
};

struct VmmConfinement {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string cgroup;          // its cgroup directory (createCgroup); empty: none
    // Its root (Jail.h) is mounted over `jail`, an empty directory, and shows `ownDirs`.
    // Empty `jail`: no namespaces of its own.
    std::string jail;
    std::vector<std::string> ownDirs;
};

// Namespaces a confined VMM starts in (clone3 flags): mount, pid, ipc, uts.
unsigned long long confinementNamespaces(const VmmConfinement& c);

// Parses "FIRST-LAST" (uids, FIRST > 0, LAST >= FIRST); throws std::invalid_argument.
ConfinementPolicy parseUidRange(const std::string& text);

// uid with no passwd entry (a uid someone uses is never handed to a VMM).
bool uidIsFree(uid_t uid);

// chown -R: the VMM's run directory and the snapshot directories it writes or reads.
void chownTree(const std::string& path, uid_t uid, gid_t gid);

// What the child does before exec, prepared by the parent (after clone3 only raw system
// calls may run): enterConfinement() builds and enters its root (in
// the namespaces the child was cloned into), moves the child into its cgroup,
// drops supplementary groups, takes the gid and uid, drops every capability and sets
// no_new_privs; the child then executes the VMM from `executable`, opened before the
// uid change (its path need not be reachable by that uid). Both fds sit at 10 or
// above, clear of the fds the child sets up below them.
struct PreparedConfinement {
    const VmmConfinement* confinement = nullptr;
    UniqueFd cgroupProcs;   // the cgroup's cgroup.procs, open for writing; empty: no cgroup
    UniqueFd executable;    // the VMM binary (O_PATH)
    std::vector<JailStep> jail;   // empty: no root of its own
};
PreparedConfinement prepareConfinement(const VmmConfinement& c, const std::string& executable);
// nullptr on success, else what failed (errno says why).
const char* enterConfinement(const PreparedConfinement& p);

}  // namespace mica::process
