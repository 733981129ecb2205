#include "Jail.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <set>

namespace mica::process {

namespace {

// What every VMM sees of the host, besides its own directories (Jail.h says why).
constexpr const char* kReadOnlyPaths[] = {"/usr", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache",
                                          "/etc/localtime"};
constexpr const char* kDevicePaths[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                                        "/dev/ptmx"};

}  // namespace

std::vector<JailStep> jailSteps(const std::string& mountPoint, const std::vector<std::string>& ownDirs)
{
    using Kind = JailStep::Kind;
    std::vector<JailStep> steps;
    std::set<std::string> made;
    // mkdir -p of `path` in the new root.
    auto directories = [&](const std::string& path) {
        size_t at = 0;
        while (at != std::string::npos) {
            at = path.find('/', at + 1);
            std::string prefix = path.substr(0, at);
            if (prefix.size() > 1 && made.insert(prefix).second)
                steps.push_back({Kind::Directory, {}, mountPoint + prefix});
        }
    };
    auto parent = [](const std::string& path) { return path.substr(0, path.rfind('/')); };
    // A host path shown as it is: a symbolic link as the same link (/lib -> usr/lib on a
    // merged-/usr system), a directory or a file bound over one made for it.
    auto show = [&](const std::string& path, Kind bind) {
        struct stat st{};
        if (::lstat(path.c_str(), &st) < 0)
            return;   // not on this host (/lib32, say): nothing to show
        if (S_ISLNK(st.st_mode)) {
            directories(parent(path));
            steps.push_back({Kind::Symlink, std::filesystem::read_symlink(path).string(), mountPoint + path});
            return;
        }
        if (S_ISDIR(st.st_mode)) {
            directories(path);
        } else {
            directories(parent(path));
            steps.push_back({Kind::File, {}, mountPoint + path});
        }
        steps.push_back({bind, path, mountPoint + path});
    };
    for (const char* path : kReadOnlyPaths)
        show(path, Kind::BindReadOnly);
    for (const char* path : kDevicePaths) {
        struct stat st{};
        if (::stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
            directories("/dev");
            steps.push_back({Kind::Device, {}, mountPoint + path, st.st_mode, st.st_rdev});
        }
    }
    show("/dev/pts", Kind::Bind);
    directories("/proc");
    steps.push_back({Kind::Proc, {}, mountPoint + "/proc"});
    for (const auto& dir : ownDirs) {
        directories(dir);
        steps.push_back({Kind::Bind, dir, mountPoint + dir});
    }
    return steps;
}

const char* enterJail(const std::string& mountPoint, const std::vector<JailStep>& steps)
{
    using Kind = JailStep::Kind;
    // Nothing mounted here may reach the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        return "making its mounts private";
    // Not nodev: its /dev nodes are made in it. The VMM cannot make any (no CAP_MKNOD).
    if (::mount("tmpfs", mountPoint.c_str(), "tmpfs", MS_NOSUID, "mode=0755,size=1m") < 0)
        return "mounting its root";
    for (const auto& step : steps) {
        const char* target = step.target.c_str();
        switch (step.kind) {
        case Kind::Directory:
            if (::mkdir(target, 0755) < 0 && errno != EEXIST)
                return "making a directory in its root";
            break;
        case Kind::File: {
            int fd = ::open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0)
                return "making a file in its root";
            ::close(fd);
            break;
        }
        case Kind::Device:
            if (::mknod(target, step.mode, step.device) < 0 || ::chmod(target, step.mode & 07777) < 0)
                return "making a device node in its root";
            break;
        case Kind::Symlink:
            if (::symlink(step.source.c_str(), target) < 0)
                return "making a symbolic link in its root";
            break;
        case Kind::Bind:
        case Kind::BindReadOnly:
            if (::mount(step.source.c_str(), target, nullptr, MS_BIND, nullptr) < 0)
                return "binding a host path into its root";
            if (step.kind == Kind::BindReadOnly &&
                ::mount(nullptr, target, nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) < 0)
                return "making a host path read-only in its root";
            break;
        case Kind::Proc:
            if (::mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
                return "mounting its /proc";
            break;
        }
    }
    if (::chdir(mountPoint.c_str()) < 0)
        return "entering its root";
    // pivot_root(".", "."): the old root ends up mounted over the new one and is then
    // detached, so nothing of the host's tree stays reachable. Where pivot_root cannot
    // work (a root that is not a mount point), moving the new root over / and chroot
    // into it does the same for a process without CAP_SYS_CHROOT.
    if (::syscall(SYS_pivot_root, ".", ".") == 0) {
        if (::umount2(".", MNT_DETACH) < 0)
            return "detaching the host's root";
    } else if (::mount(".", "/", nullptr, MS_MOVE, nullptr) < 0 || ::chroot(".") < 0) {
        return "entering its root";
    }
    if (::chdir("/") < 0)
        return "entering its root";
    if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID, nullptr) < 0)
        return "making its root read-only";
    return nullptr;
}

}  // namespace mica::process
