#include "VmmProcess.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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

// The child's fds below this are the ones it keeps (0-2, the event fd, the lock fd, the
// start gate); the confinement's prepared fds sit above (Confinement.h: 10 and up).
constexpr int kGateFd = 5;

// The environment a VMM gets: built, not inherited. The daemon's may hold systemd's
// NOTIFY_SOCKET (a VMM would speak for the daemon), LISTEN_FDS, credentials of the
// administrator's shell; the VMM needs none of it.
std::vector<std::string> vmmEnvironment()
{
    std::vector<std::string> env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    for (const char* name : {"LANG", "LC_ALL"})
        if (const char* value = std::getenv(name))
            env.push_back(std::string(name) + "=" + value);
    return env;
}

// In the child (raw system calls only): closes every fd from `from` up except `keep`
// (ascending, each >= from).
void closeAllBut(unsigned from, const int* keep, int count)
{
    for (int i = 0; i < count; ++i) {
        if (keep[i] < 0)
            continue;
        if (static_cast<unsigned>(keep[i]) > from)
            ::syscall(SYS_close_range, from, static_cast<unsigned>(keep[i] - 1), 0u);
        from = static_cast<unsigned>(keep[i]) + 1;
    }
    ::syscall(SYS_close_range, from, ~0u, 0u);
}

}  // namespace

VmmProcess VmmProcess::spawn(const std::vector<std::string>& argv, const std::string& logPath, int eventFd,
                             const VmmConfinement* confinement, int lockFd,
                             const std::function<void(pid_t)>& beforeRun)
{
    // Everything the child needs is prepared here: after fork it may only call
    // async-signal-safe functions.
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> envText = vmmEnvironment();
    std::vector<char*> env;
    for (auto& e : envText)
        env.push_back(e.data());
    env.push_back(nullptr);
    UniqueFd log(::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log)
        throw std::runtime_error(logPath + ": " + std::strerror(errno));
    UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    PreparedConfinement confined;
    if (confinement)
        confined = prepareConfinement(*confinement, argv.at(0));
    int gate[2] = {-1, -1};
    if (::pipe2(gate, O_CLOEXEC) < 0)
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    UniqueFd gateRead(gate[0]), gateWrite(gate[1]);
    // The fds the child keeps, ascending (closeAllBut).
    int keep[2] = {confined.cgroupProcs.get(), confined.executable.get()};
    if (keep[0] > keep[1])
        std::swap(keep[0], keep[1]);

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
        auto die = [](const char* what) {
            const char prefix[] = "virtmicad: cannot start the VMM: ";
            (void)!::write(2, prefix, sizeof prefix - 1);
            (void)!::write(2, what, std::strlen(what));
            (void)!::write(2, "\n", 1);
            ::_exit(127);
        };
        // Moved clear of 0-5 first, so that the dup2s below never overwrite one another.
        int srcEvent = eventFd >= 0 ? ::fcntl(eventFd, F_DUPFD, 6) : -1;
        int srcLock = lockFd >= 0 ? ::fcntl(lockFd, F_DUPFD, 6) : -1;
        int srcGate = ::fcntl(gateRead.get(), F_DUPFD, 6);
        if ((eventFd >= 0 && srcEvent < 0) || (lockFd >= 0 && srcLock < 0) || srcGate < 0)
            die("fcntl");
        ::dup2(null.get(), 0);
        ::dup2(log.get(), 1);
        ::dup2(log.get(), 2);
        int fdEvent = srcEvent >= 0 ? ::dup2(srcEvent, 3) : -1;
        int fdLock = srcLock >= 0 ? ::dup2(srcLock, 4) : -1;
        ::dup2(srcGate, kGateFd);
        // Closed now, before the wait: the copies this child holds of other starts' gate
        // ends (and of everything else) must not keep anyone waiting.
        closeAllBut(kGateFd + 1, keep, 2);
        if (fdEvent < 0)
            ::close(3);
        if (fdLock < 0)
            ::close(4);
        char go = 0;
        ssize_t n;
        do
            n = ::read(kGateFd, &go, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            ::_exit(126);   // the daemon went away before recording this process
        ::close(kGateFd);
        if (confinement) {
            if (const char* failed = enterConfinement(confined))
                die(failed);
            // Everything else closes now; the binary's fd (close-on-exec) goes with exec.
            int exe = confined.executable.get();
            closeAllBut(5, &exe, 1);
            ::execveat(exe, "", args.data(), env.data(), AT_EMPTY_PATH);
        } else {
            ::execve(args[0], args.data(), env.data());
        }
        die("exec");
    }
    VmmProcess proc(pid, UniqueFd(pidfdNumber), true);
    gateRead.reset();
    if (beforeRun) {
        try {
            beforeRun(pid);
        } catch (...) {
            gateWrite.reset();   // the child sees the end of the pipe and exits
            proc.waitEnded(5000);
            throw;
        }
    }
    if (::write(gateWrite.get(), "g", 1) != 1) {
        int err = errno;
        gateWrite.reset();
        proc.waitEnded(5000);
        throw std::runtime_error(std::string("starting the VMM: ") + std::strerror(err));
    }
    return proc;
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
