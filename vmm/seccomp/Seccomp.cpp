#include "Seccomp.h"

#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "Error.h"
#include "PrebuiltFilters.h"
#include "i18n.h"

namespace mica {

namespace {

std::atomic<SeccompMode> gMode{SeccompMode::On};
std::atomic<int> gSelfTestRole{-1};

// Async-signal-safe: only prctl(2), write(2) and _exit(2), all in every list.
void onSigsys(int, siginfo_t* info, void*)
{
    char name[17] = "?";
    ::prctl(PR_GET_NAME, name);
    char number[16];
    int n = info->si_syscall, i = sizeof number;
    number[--i] = 0;
    do {
        number[--i] = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n > 0 && i > 0);
    const char* parts[] = {"mica-vmm: seccomp: thread '", name, "' made a forbidden system call, number ",
                           number + i, " (see ausyscall --dump)\n"};
    for (const char* p : parts)
        [[maybe_unused]] auto written = ::write(STDERR_FILENO, p, std::strlen(p));
    ::_exit(128 + SIGSYS);
}

}  // namespace

void setSeccompMode(SeccompMode mode)
{
    gMode = mode;
    if (mode == SeccompMode::On) {
        struct sigaction action{};
        action.sa_sigaction = onSigsys;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        sigaction(SIGSYS, &action, nullptr);
    }
}

void applySeccomp(ThreadRole role)
{
    SeccompMode mode = gMode;
    if (mode == SeccompMode::Off)
        return;
    PrebuiltFilter filter = prebuiltFilter(role, mode == SeccompMode::Log ? ForbiddenCall::Log : ForbiddenCall::Trap);
    // The kernel only reads the program (sock_fprog's pointer is not const).
    sock_fprog program{filter.length, const_cast<sock_filter*>(filter.code)};
    // As libseccomp's seccomp_load did: no_new_privs first, which an unprivileged thread
    // needs before it may install a filter; no flags (the filter is this thread's alone).
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
        throw Error(std::string(_("cannot install the seccomp filter of thread role ")) + roleName(role) + ": " +
                    std::strerror(errno));
}

void setSeccompSelfTest(const std::string& role)
{
    for (ThreadRole r : kThreadRoles)
        if (role == roleName(r))
            gSelfTestRole = static_cast<int>(r);
}

void seccompSelfTestPoint(ThreadRole role)
{
    // acct(2) is in no list: a thread that makes it proves its filter is on.
    if (gSelfTestRole == static_cast<int>(role))
        ::syscall(SYS_acct, nullptr);
}

}  // namespace mica
