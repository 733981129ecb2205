// A confined VMM's view of the file system, as Firecracker's jailer builds one: the VMM
// starts in mount, pid, ipc and uts namespaces of its own, and its root is a fresh tmpfs
// holding only
//   - the host's libraries, read-only (/usr, /lib*, /etc/ld.so.cache, /etc/localtime):
//     mica-vmm is linked dynamically and loads its time zone;
//   - the device nodes any process expects (/dev/null, zero, full, random, urandom) and
//     /dev/ptmx with /dev/pts for a pty console (the host's devpts, so the pty's name
//     holds outside too; the ptmx node is made anew, since opening one finds its devpts
//     as the "pts" beside it, which a node bound on its own has not);
//   - a /proc of its own pid namespace (it sees no other process);
//   - its own directories (the domain's run directory), read-write, each at its own path,
//     so every path in its config and API means the same inside and out.
// The daemon's files, other domains' files and the images are simply not there: what the
// VMM needs of them comes as fds (VmmLaunch). The root is read-only once built.
#pragma once

#include <string>
#include <vector>

namespace mica::process {

// One step of building the root. They are worked out before fork (jailSteps) so that the
// child, which may only make async-signal-safe calls, runs plain syscalls (enterJail).
struct JailStep {
    enum class Kind { Directory, File, Device, Symlink, Bind, BindReadOnly, Proc } kind;
    std::string source;   // Bind*: the host path; Symlink: the link's text
    std::string target;   // the path in the new root, prefixed with the mount point
    unsigned mode = 0;    // Device: the host node's mode and number
    unsigned long device = 0;
};

// `mountPoint`: an empty directory the root is mounted over (in the child's namespace
// only); `ownDirs`: absolute paths shown read-write.
std::vector<JailStep> jailSteps(const std::string& mountPoint, const std::vector<std::string>& ownDirs);

// In the child, in its new mount namespace and still privileged: builds the root at
// mountPoint from steps and makes it the process's root. nullptr on success, else
// what failed (errno says why).
const char* enterJail(const std::string& mountPoint, const std::vector<JailStep>& steps);

}  // namespace mica::process
