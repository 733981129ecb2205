#include "VmmProcess.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "i18n.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace mica::process {

namespace {

int pidfdOpen(pid_t pid)
{
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// fork() with new namespaces and the child's pidfd: clone3, which glibc does not wrap.
// The child may only make raw system calls (Confinement.h).
pid_t cloneWithPidfd(unsigned long long namespaces, int* pidfd)
{
    clone_args args{};
    args.flags = namespaces | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uintptr_t>(pidfd);
    args.exit_signal = SIGCHLD;
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

}  // namespace

VmmProcess VmmProcess::spawn(const std::vector<std::string>& argv, const std::string& logPath, int eventFd,
                             const VmmConfinement* confinement)
{
    // Everything the child needs is prepared here: after fork it may only call
    // async-signal-safe functions.
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    UniqueFd log(::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log)
        throw std::runtime_error(logPath + ": " + std::strerror(errno));
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    PreparedConfinement confined;
    if (confinement)
        confined = prepareConfinement(*confinement, argv.at(0));

    int pidfdNumber = -1;
    pid_t pid = cloneWithPidfd(confinement ? confinementNamespaces(*confinement) : 0, &pidfdNumber);
    if (pid < 0)
        throw std::runtime_error(std::string("clone3: ") + std::strerror(errno));
    if (pid == 0) {
        // Its own session: no SIGHUP or terminal signals from the daemon's side, and a
        // daemon killed with SIGKILL leaves it running.
        ::setsid();
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::dup2(null.get(), 0);
        ::dup2(log.get(), 1);
        ::dup2(log.get(), 2);
        unsigned firstClosed = 3;
        if (eventFd >= 0) {
            // dup2 onto itself would keep FD_CLOEXEC: clear it by hand then.
            if (eventFd == 3)
                ::fcntl(3, F_SETFD, 0);
            else
                ::dup2(eventFd, 3);
            firstClosed = 4;
        }
        auto die = [](const char* what) {
            const char prefix[] = "virtmicad: cannot start the VMM: ";
            (void)!::write(2, prefix, sizeof prefix - 1);
            (void)!::write(2, what, std::strlen(what));
            (void)!::write(2, "\n", 1);
            ::_exit(127);
        };
        if (confinement) {
            if (const char* failed = enterConfinement(confined))
                die(failed);
            // Everything else closes now; the binary's fd (close-on-exec) goes with exec.
            int keep = confined.executable.get();
            ::syscall(SYS_close_range, firstClosed, static_cast<unsigned>(keep - 1), 0u);
            ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
            ::execveat(keep, "", args.data(), environ, AT_EMPTY_PATH);
        } else {
            ::syscall(SYS_close_range, firstClosed, ~0u, 0u);
            ::execv(args[0], args.data());
        }
        die("exec");
    }
    return VmmProcess(pid, UniqueFd(pidfdNumber), true);
}

std::optional<VmmProcess> VmmProcess::adopt(pid_t pid)
{
    if (pid <= 0)
        return std::nullopt;
    UniqueFd pidfd(pidfdOpen(pid));
    if (!pidfd)
        return std::nullopt;
    VmmProcess p(pid, std::move(pidfd), false);
    if (p.ended())
        return std::nullopt;
    return p;
}

bool VmmProcess::ended()
{
    if (ended_)
        return true;
    if (child_) {
        siginfo_t info{};
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info,
                     WEXITED | WNOHANG) == 0 && info.si_pid != 0) {
            ended_ = true;
            status_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
        }
        return ended_;
    }
    pollfd p{pidfd_.get(), POLLIN, 0};
    ended_ = ::poll(&p, 1, 0) > 0;
    return ended_;
}

void VmmProcess::kill(int signal) const
{
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), signal, nullptr, 0);
}

bool VmmProcess::waitEnded(int timeoutMs)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (!ended()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0)
            return false;
        pollfd p{pidfd_.get(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<long>(left, 100)));
    }
    return true;
}

VmmProcess::CpuTimes VmmProcess::cpuTimes() const
{
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command (which may hold spaces) start after the last ')'.
    auto close = text.rfind(')');
    if (close == std::string::npos)
        return {};
    std::istringstream fields(text.substr(close + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14)
            utime = std::strtoull(f.c_str(), nullptr, 10);
        if (i == 15)
            stime = std::strtoull(f.c_str(), nullptr, 10);
    }
    long hz = ::sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        return {};
    unsigned long long ns = 1000000000ull / static_cast<unsigned long long>(hz);
    return {utime * ns, stime * ns};
}

std::uint64_t VmmProcess::rssKiB() const
{
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::strtoull(line.c_str() + 6, nullptr, 10);
    return 0;
}

}  // namespace mica::process
