#include "Confinement.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "i18n.h"

namespace mica::process {

namespace {

// Fds the child keeps through its own dup2 of 0-3 (VmmProcess::spawn).
constexpr int kFirstPreparedFd = 10;

UniqueFd openHigh(const std::string& path, int flags)
{
    UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
    if (!fd)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    UniqueFd high(::fcntl(fd.get(), F_DUPFD_CLOEXEC, kFirstPreparedFd));
    if (!high)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    return high;
}

}  // namespace

ConfinementPolicy parseUidRange(const std::string& text)
{
    auto dash = text.find('-');
    auto number = [&](const std::string& part) {
        char* end = nullptr;
        unsigned long v = std::strtoul(part.c_str(), &end, 10);
        if (part.empty() || *end || part[0] == '-' || v == 0 || v >= 0xffffffffu)
            throw std::invalid_argument("--vmm-uids: " + std::string(_("expected FIRST-LAST (uids above 0), not ")) +
                                        "'" + text + "'");
        return static_cast<uid_t>(v);
    };
    if (dash == std::string::npos)
        number("");
    ConfinementPolicy p;
    p.firstUid = number(text.substr(0, dash));
    p.lastUid = number(text.substr(dash + 1));
    if (p.lastUid < p.firstUid)
        throw std::invalid_argument("--vmm-uids: " + std::string(_("LAST is below FIRST in ")) + "'" + text + "'");
    return p;
}

bool uidIsFree(uid_t uid)
{
    return ::getpwuid(uid) == nullptr && ::getgrgid(static_cast<gid_t>(uid)) == nullptr;
}

void chownTree(const std::string& path, uid_t uid, gid_t gid)
{
    auto own = [&](const std::filesystem::path& p) {
        if (::lchown(p.c_str(), uid, gid) < 0)
            throw std::runtime_error(p.string() + ": chown: " + std::strerror(errno));
    };
    own(path);
    if (std::filesystem::is_directory(std::filesystem::symlink_status(path)))
        for (const auto& entry : std::filesystem::recursive_directory_iterator(path))
            own(entry.path());
}

unsigned long long confinementNamespaces(const VmmConfinement& c)
{
    return c.jail.empty() ? 0 : CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
}

PreparedConfinement prepareConfinement(const VmmConfinement& c, const std::string& executable)
{
    PreparedConfinement p;
    p.confinement = &c;
    p.executable = openHigh(executable, O_PATH);
    if (!c.cgroup.empty())
        p.cgroupProcs = openHigh(c.cgroup + "/cgroup.procs", O_WRONLY);
    if (!c.jail.empty())
        p.jail = jailSteps(c.jail, c.ownDirs);
    return p;
}

const char* enterConfinement(const PreparedConfinement& p)
{
    const VmmConfinement& c = *p.confinement;
    if (!c.jail.empty())
        if (const char* failed = enterJail(c.jail, p.jail))
            return failed;
    // "0" moves the writing process: the child is in its cgroup before it runs anything.
    if (p.cgroupProcs && ::write(p.cgroupProcs.get(), "0", 1) != 1)
        return "cannot join its cgroup";
    // Raw system calls: the child came from clone3, not fork, so glibc still believes the
    // daemon's threads exist and its wrappers would try to change their ids too.
    if (::syscall(SYS_setgroups, 0, nullptr) < 0)
        return "setgroups";
    if (::syscall(SYS_setresgid, c.gid, c.gid, c.gid) < 0)
        return "setresgid";
    // An empty bounding set: nothing the VMM executes can ever gain a capability. The
    // uid change below clears the permitted, effective and ambient sets.
    for (int cap = 0; cap < 64; ++cap)
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return "dropping capabilities";
    if (::syscall(SYS_setresuid, c.uid, c.uid, c.uid) < 0)
        return "setresuid";
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return "no_new_privs";
    return nullptr;
}

}  // namespace mica::process
