// One KVM vCPU: its fd, the kvm_run area KVM shares with us, and its register state.
#pragma once

#include "KvmHeaders.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "MappedRegion.h"
#include "UniqueFd.h"

namespace mica::kvm {

class Vcpu {
public:
    Vcpu(UniqueFd fd, unsigned id, size_t mmapSize);

    unsigned id() const { return id_; }
    int fd() const { return fd_.get(); }

    // KVM_RUN until the next exit. Returns false when interrupted by a signal (EINTR) or
    // when immediate_exit was set: the caller's loop decides what to do then.
    bool run();
    kvm_run& runState() { return *static_cast<kvm_run*>(run_.get()); }
    // Makes the next (or current, once a signal kicks it) KVM_RUN return at once.
    void setImmediateExit(bool on) { runState().immediate_exit = on ? 1 : 0; }

    kvm_regs regs() const;
    void setRegs(const kvm_regs&);
    kvm_sregs sregs() const;
    void setSregs(const kvm_sregs&);
    kvm_fpu fpu() const;
    void setFpu(const kvm_fpu&);
    kvm_lapic_state lapic() const;
    void setLapic(const kvm_lapic_state&);
    kvm_mp_state mpState() const;
    void setMpState(const kvm_mp_state&);
    // The rest of what a snapshot needs: extended FPU state, XCR0, pending exceptions
    // and interrupts, debug registers.
    kvm_xsave xsave() const;
    void setXsave(const kvm_xsave&);
    kvm_xcrs xcrs() const;
    void setXcrs(const kvm_xcrs&);
    kvm_vcpu_events events() const;
    void setEvents(const kvm_vcpu_events&);
    kvm_debugregs debugRegs() const;
    void setDebugRegs(const kvm_debugregs&);
    void setCpuid(const std::vector<kvm_cpuid_entry2>&);
    // MSRs as (index, value) pairs; every one must be accepted or this throws.
    void setMsrs(const std::vector<std::pair<uint32_t, uint64_t>>&);
    // Sets what KVM accepts, in order; returns the indices it refused.
    std::vector<uint32_t> trySetMsrs(const std::vector<std::pair<uint32_t, uint64_t>>&);
    std::vector<std::pair<uint32_t, uint64_t>> msrs(const std::vector<uint32_t>& indices) const;
    // Tells the guest's kvmclock it was paused, so its soft-lockup watchdog does not fire.
    void kvmclockCtrl();
    // Queues a non-maskable interrupt for the vCPU's next entry (KVM_NMI).
    void injectNmi();

private:
    UniqueFd fd_;
    unsigned id_;
    MappedRegion run_;
};

}  // namespace mica::kvm
