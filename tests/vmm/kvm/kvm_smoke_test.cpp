// Proves KVM works where this runs (directly, or inside tests/kvm-host/with-kvm): a VM
// with one memory slot and one vCPU runs a real-mode snippet that writes a byte to an
// I/O port and halts, and the exits KVM reports are exactly those.
#include "Kvm.h"  // first: it fixes <linux/kvm.h> for C++

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "Error.h"
#include "MappedRegion.h"
#include "Vcpu.h"
#include "Vm.h"



namespace {

// mov al, 0x5a; mov dx, 0x1234; out dx, al; hlt
const uint8_t kSnippet[] = {0xb0, 0x5a, 0xba, 0x34, 0x12, 0xee, 0xf4};
constexpr uint64_t kMemSize = 0x10000;
constexpr uint64_t kCodeAddr = 0x1000;

std::string hostDescription()
{
    utsname u{};
    uname(&u);
    return std::string(u.nodename) + " " + u.release;
}

}  // namespace

TEST(KvmSmoke, RealModePortIoThenHalt)
{
    // Show where KVM ran: on a machine without /dev/kvm this names the emulated host.
    std::cout << "KVM smoke test on " << hostDescription() << "\n";

    mica::kvm::Kvm kvm;
    EXPECT_EQ(kvm.apiVersion(), KVM_API_VERSION);
    EXPECT_TRUE(kvm.checkExtension(KVM_CAP_USER_MEMORY));
    EXPECT_GE(kvm.maxVcpus(), 1u);
    EXPECT_FALSE(kvm.supportedCpuid().empty());

    mica::kvm::Vm vm = kvm.createVm();
    void* mem = mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    mica::MappedRegion guestMemory(mem, kMemSize);
    std::memcpy(static_cast<uint8_t*>(mem) + kCodeAddr, kSnippet, sizeof(kSnippet));
    vm.setMemoryRegion(0, 0, kMemSize, mem);

    mica::kvm::Vcpu vcpu = vm.createVcpu(0);
    kvm_sregs sregs = vcpu.sregs();
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.setSregs(sregs);
    kvm_regs regs{};
    regs.rip = kCodeAddr;
    regs.rflags = 0x2;  // bit 1 is reserved and must be set
    vcpu.setRegs(regs);

    ASSERT_TRUE(vcpu.run());
    kvm_run& run = vcpu.runState();
    ASSERT_EQ(run.exit_reason, static_cast<uint32_t>(KVM_EXIT_IO));
    EXPECT_EQ(run.io.direction, KVM_EXIT_IO_OUT);
    EXPECT_EQ(run.io.port, 0x1234);
    EXPECT_EQ(run.io.size, 1);
    EXPECT_EQ(run.io.count, 1u);
    uint8_t value = *(reinterpret_cast<uint8_t*>(&run) + run.io.data_offset);
    EXPECT_EQ(value, 0x5a);

    ASSERT_TRUE(vcpu.run());
    EXPECT_EQ(run.exit_reason, static_cast<uint32_t>(KVM_EXIT_HLT));
    EXPECT_EQ(vcpu.regs().rip, kCodeAddr + sizeof(kSnippet));
}

TEST(KvmSmoke, MissingDeviceIsAClearError)
{
    try {
        mica::kvm::Kvm kvm("/nonexistent/kvm");
        FAIL() << "opening a missing device succeeded";
    } catch (const mica::Error& e) {
        EXPECT_STREQ(e.what(), "/nonexistent/kvm: No such file or directory");
    }
}
