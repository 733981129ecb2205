#include "FilterRules.h"

#include <sys/ioctl.h>
#include <cerrno>
#include <termios.h>

#include <cstring>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "KvmHeaders.h"

namespace mica {

namespace {

// What every thread needs: memory, threads' own housekeeping, locks, signals, time,
// and stderr for error messages.
constexpr int kCommon[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(close), SCMP_SYS(futex),
    SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(brk),
    SCMP_SYS(mremap), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(sigaltstack),
    SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall), SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday), SCMP_SYS(sched_yield),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill), SCMP_SYS(getrandom), SCMP_SYS(rseq),
    SCMP_SYS(set_robust_list), SCMP_SYS(prctl), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(lseek),
};

// KVM requests a running vCPU or device may make: run, raise interrupts, and (PCI)
// update MSI routes and their irqfds and doorbells.
const unsigned long kRunTimeKvmIoctls[] = {
    KVM_RUN, KVM_IRQ_LINE, KVM_SIGNAL_MSI, KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IOEVENTFD,
};

// What a vCPU thread does to its own vCPU between runs, when its channel asks: save and
// restore its state, tell its kvmclock it was paused, queue an NMI.
const unsigned long kVcpuStateIoctls[] = {
    KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_XSAVE, KVM_SET_XSAVE,
    KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
    KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
    KVM_GET_MSRS, KVM_SET_MSRS, KVM_KVMCLOCK_CTRL, KVM_NMI,
};

// epoll_ctl: a virtio driver resetting its device (a config write on a vCPU) makes the
// device stop watching its TAP or vsock sockets; a serial port whose reader is slow
// makes its backend watch the pty or socket for room. poll: whether anybody reads a
// full pty at all (CharBackend::write).
constexpr int kVcpu[] = {SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(epoll_ctl), SCMP_SYS(poll)};

constexpr int kDevices[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(accept4),
    SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(shutdown),
    SCMP_SYS(readv), SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fallocate), SCMP_SYS(fcntl), SCMP_SYS(ioctl),
    SCMP_SYS(eventfd2), SCMP_SYS(unlink), SCMP_SYS(timerfd_settime),  // the coalesced ring's drain timer
    SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(poll), SCMP_SYS(ppoll),  // vsock: guest connections to host sockets
    SCMP_SYS(sched_getaffinity),  // glibc sizing a disk worker's first malloc arena
    SCMP_SYS(io_uring_enter),     // a raw disk's requests handed to its ring, and resumed
};

// Building a VM: files, guest memory, KVM, threads, console backends, sockets.
constexpr int kBuilder[] = {
    SCMP_SYS(openat), SCMP_SYS(statx), SCMP_SYS(pread64), SCMP_SYS(memfd_create), SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate), SCMP_SYS(ioctl), SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(prctl),
    SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup3), SCMP_SYS(eventfd2), SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_create1),  // a disk or network device's own I/O thread
    SCMP_SYS(timerfd_create),
    SCMP_SYS(socket), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(unlink), SCMP_SYS(getsockopt),
    SCMP_SYS(flock), SCMP_SYS(sched_getaffinity), SCMP_SYS(getdents64), SCMP_SYS(readlink),
    SCMP_SYS(sched_setaffinity),  // vCPU threads taking their host CPUs (cpus.affinity, vm.affinity)
    SCMP_SYS(uname), SCMP_SYS(sysinfo), SCMP_SYS(getuid), SCMP_SYS(geteuid),
    SCMP_SYS(seccomp),  // the threads it starts install their own, narrower filters
    SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_register),  // a raw disk's ring and its eventfd
};
constexpr int kApi[] = {
    SCMP_SYS(accept4), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
    SCMP_SYS(sendmsg), SCMP_SYS(shutdown),
    SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),  // vm.snapshot
    SCMP_SYS(unlinkat),
};

void check(int rc)
{
    if (rc < 0)
        throw std::runtime_error("seccomp_rule_add: " + std::string(std::strerror(-rc)));
}

void allow(scmp_filter_ctx ctx, std::initializer_list<std::pair<const int*, size_t>> lists)
{
    for (auto [list, n] : lists)
        for (size_t i = 0; i < n; ++i)
            check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, list[i], 0));
}

template <size_t N>
std::pair<const int*, size_t> list(const int (&a)[N])
{
    return {a, N};
}

// glibc opens /proc/sys/vm/overcommit_memory the first time it shrinks a thread's own
// heap (a disk thread freeing a qcow2 cluster buffer does): threads that open nothing
// get EACCES for openat, which glibc takes as "do not shrink", rather than being killed.
// Either way nothing is opened.
void refuseOpen(scmp_filter_ctx ctx)
{
    check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0));
}

}  // namespace

void addRoleRules(scmp_filter_ctx ctx, ThreadRole role)
{
    allow(ctx, {list(kCommon)});
    switch (role) {
    case ThreadRole::Vcpu:
        allow(ctx, {list(kVcpu)});
        for (const auto& requests : {std::span<const unsigned long>(kRunTimeKvmIoctls),
                                     std::span<const unsigned long>(kVcpuStateIoctls)})
            for (unsigned long request : requests)
                check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, request)));
        // A vCPU's SetAffinity command: the thread moves itself (pid 0), never another.
        check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity), 1, SCMP_A0(SCMP_CMP_EQ, 0)));
        refuseOpen(ctx);
        break;
    case ThreadRole::Devices:
        allow(ctx, {list(kDevices)});
        refuseOpen(ctx);
        break;
    // Filters stack: the vCPU and device threads a builder starts keep its filter under
    // their own, so a builder must also allow everything those threads do.
    case ThreadRole::Api:
        allow(ctx, {list(kBuilder), list(kApi), list(kDevices), list(kVcpu)});
        break;
    // Main tears down what the others built, VMs included, as a VM thread does.
    case ThreadRole::Vm:
    case ThreadRole::Main:
        allow(ctx, {list(kBuilder), list(kDevices), list(kVcpu)});
        break;
    }
}

}  // namespace mica
