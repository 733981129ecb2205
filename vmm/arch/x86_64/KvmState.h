// The KVM side of a snapshot (x86): each vCPU's registers, FPU/xsave, XCRs, MSRs (the
// TSC and kvmclock ones included), LAPIC, MP state, pending events and debug registers,
// and the VM's in-kernel PIC, IOAPIC, PIT and kvmclock. KVM's structs are kept as
// base64 blobs of their exact size: a snapshot restores on the same KVM ABI.
#pragma once

#include <nlohmann/json.hpp>

#include "Vcpu.h"
#include "Vm.h"

namespace mica::x86 {

// `msrIndices`: what KVM_GET_MSR_INDEX_LIST offers; those this vCPU cannot read are left out.
nlohmann::json saveVcpu(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& msrIndices);
// Onto a vCPU created and given its CPUID as at boot. Throws StateError on a bad state.
void restoreVcpu(kvm::Vcpu& vcpu, const nlohmann::json& state);

// `clock`: the kvmclock as pause() froze it.
nlohmann::json saveVmChips(const kvm::Vm& vm, const kvm_clock_data& clock);
// Returns the kvmclock to set when the VM resumes.
kvm_clock_data restoreVmChips(kvm::Vm& vm, const nlohmann::json& state);

}  // namespace mica::x86
