// The programs compiled at build time (PrebuiltFilters.cpp) say what FilterRules.cpp
// says: run through a small classic-BPF evaluator, each role allows its calls and traps
// the others, and the log variant differs from the trap variant only in that action.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "KvmHeaders.h"
#include "PrebuiltFilters.h"

using namespace mica;

namespace {

// The classic-BPF subset libseccomp emits; an instruction outside it fails the test.
uint32_t run(PrebuiltFilter filter, long nr, unsigned long arg1 = 0, uint32_t arch = AUDIT_ARCH_X86_64)
{
    seccomp_data data{};
    data.nr = static_cast<int>(nr);
    data.arch = arch;
    data.args[1] = arg1;
    uint32_t acc = 0;
    for (unsigned pc = 0; pc < filter.length; ++pc) {
        const sock_filter& insn = filter.code[pc];
        switch (insn.code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (insn.k + 4 > sizeof data) {
                ADD_FAILURE() << "load past seccomp_data at " << pc;
                return 0;
            }
            std::memcpy(&acc, reinterpret_cast<const char*>(&data) + insn.k, 4);
            break;
        case BPF_JMP | BPF_JA: pc += insn.k; break;
        case BPF_JMP | BPF_JEQ | BPF_K: pc += acc == insn.k ? insn.jt : insn.jf; break;
        case BPF_JMP | BPF_JGE | BPF_K: pc += acc >= insn.k ? insn.jt : insn.jf; break;
        case BPF_JMP | BPF_JGT | BPF_K: pc += acc > insn.k ? insn.jt : insn.jf; break;
        case BPF_JMP | BPF_JSET | BPF_K: pc += (acc & insn.k) ? insn.jt : insn.jf; break;
        case BPF_RET | BPF_K: return insn.k;
        default: ADD_FAILURE() << "unexpected BPF instruction " << insn.code << " at " << pc; return 0;
        }
    }
    ADD_FAILURE() << "the program ran off its end";
    return 0;
}

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW, kTrap = SECCOMP_RET_TRAP;

}  // namespace

TEST(PrebuiltFilters, EveryRoleAllowsTheCommonCallsAndTrapsOthers)
{
    for (ThreadRole role : kThreadRoles) {
        SCOPED_TRACE(roleName(role));
        PrebuiltFilter filter = prebuiltFilter(role, ForbiddenCall::Trap);
        EXPECT_EQ(run(filter, SYS_write), kAllow);
        EXPECT_EQ(run(filter, SYS_futex), kAllow);
        EXPECT_EQ(run(filter, SYS_acct), kTrap);  // --x-seccomp-selftest's call
        EXPECT_EQ(run(filter, SYS_execve), kTrap);
    }
}

TEST(PrebuiltFilters, EachRoleHasItsOwnList)
{
    auto trap = [](ThreadRole role) { return prebuiltFilter(role, ForbiddenCall::Trap); };
    EXPECT_EQ(run(trap(ThreadRole::Vcpu), SYS_ioctl, KVM_RUN), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Vcpu), SYS_ioctl, KVM_SET_GSI_ROUTING), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Vcpu), SYS_ioctl, KVM_CREATE_VCPU), kTrap);
    // openat fails with EACCES (glibc's heap shrink tries it) rather than trapping.
    EXPECT_EQ(run(trap(ThreadRole::Vcpu), SYS_openat), SECCOMP_RET_ERRNO | EACCES);
    EXPECT_EQ(run(trap(ThreadRole::Vcpu), SYS_open), kTrap);
    EXPECT_EQ(run(trap(ThreadRole::Devices), SYS_epoll_wait), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Devices), SYS_openat), SECCOMP_RET_ERRNO | EACCES);
    EXPECT_EQ(run(trap(ThreadRole::Api), SYS_accept4), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Api), SYS_renameat2), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Api), SYS_ioctl, KVM_CREATE_VCPU), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Vm), SYS_clone3), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Vm), SYS_renameat2), kTrap);
    EXPECT_EQ(run(trap(ThreadRole::Main), SYS_seccomp), kAllow);
    // io_uring: disk I/O threads submit to a ring the VM's builder made; a vCPU resetting
    // a disk waits for its ring without entering it.
    EXPECT_EQ(run(trap(ThreadRole::Devices), SYS_io_uring_enter), kAllow);
    EXPECT_EQ(run(trap(ThreadRole::Devices), SYS_io_uring_setup), kTrap);
    EXPECT_EQ(run(trap(ThreadRole::Devices), SYS_io_uring_register), kTrap);
    EXPECT_EQ(run(trap(ThreadRole::Vcpu), SYS_io_uring_enter), kTrap);
    for (auto role : {ThreadRole::Api, ThreadRole::Vm, ThreadRole::Main})
        for (long call : {SYS_io_uring_setup, SYS_io_uring_register, SYS_io_uring_enter})
            EXPECT_EQ(run(trap(role), call), kAllow) << roleName(role) << " " << call;
}

TEST(PrebuiltFilters, OtherAbisAreKilled)
{
    for (ThreadRole role : kThreadRoles) {
        SCOPED_TRACE(roleName(role));
        PrebuiltFilter filter = prebuiltFilter(role, ForbiddenCall::Trap);
        EXPECT_EQ(run(filter, SYS_write, 0, AUDIT_ARCH_I386), SECCOMP_RET_KILL_THREAD);
        EXPECT_EQ(run(filter, __X32_SYSCALL_BIT | SYS_write), SECCOMP_RET_KILL_THREAD);
    }
}

TEST(PrebuiltFilters, TheLogVariantOnlyLogsWhatTheTrapVariantTraps)
{
    for (ThreadRole role : kThreadRoles) {
        SCOPED_TRACE(roleName(role));
        PrebuiltFilter trap = prebuiltFilter(role, ForbiddenCall::Trap);
        PrebuiltFilter log = prebuiltFilter(role, ForbiddenCall::Log);
        ASSERT_EQ(trap.length, log.length);
        int actions = 0;
        for (unsigned i = 0; i < trap.length; ++i) {
            const sock_filter &t = trap.code[i], &l = log.code[i];
            if (t.code == (BPF_RET | BPF_K) && t.k == kTrap) {
                EXPECT_EQ(l.k, SECCOMP_RET_LOG) << "at " << i;
                ++actions;
            } else {
                EXPECT_TRUE(t.code == l.code && t.jt == l.jt && t.jf == l.jf && t.k == l.k) << "at " << i;
            }
        }
        EXPECT_GT(actions, 0);
        EXPECT_EQ(run(log, SYS_acct), SECCOMP_RET_LOG);
        EXPECT_EQ(run(log, SYS_write), kAllow);
    }
}
