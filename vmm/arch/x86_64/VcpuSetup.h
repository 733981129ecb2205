// Puts vCPUs in the state the boot protocols require. Every vCPU gets CPUID, MSRs, FPU
// and LAPIC LINT0/LINT1 wiring; only the boot vCPU gets registers: the others wait
// for INIT/SIPI from the guest, handled by KVM's in-kernel LAPIC.
#pragma once

#include "Cpuid.h"
#include "GuestMemory.h"
#include "KernelLoader.h"
#include "Vcpu.h"

namespace mica::x86 {

void setupVcpu(kvm::Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid);

// Writes the boot GDT (and for 64-bit entry the identity page tables) into guest memory
// and sets the boot vCPU's registers for `entry`.
void setupBootVcpu(kvm::Vcpu& vcpu, const GuestMemory& memory, const BootEntry& entry);

}  // namespace mica::x86
