#include "KvmState.h"

#include <iostream>

#include "StateJson.h"

namespace mica::x86 {

namespace {

// KVM_GET_MSRS stops at the first MSR it refuses: read on past each refusal.
std::vector<std::pair<uint32_t, uint64_t>> readableMsrs(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& indices)
{
    std::vector<std::pair<uint32_t, uint64_t>> values;
    for (size_t start = 0; start < indices.size();) {
        auto got = vcpu.msrs({indices.begin() + static_cast<std::ptrdiff_t>(start), indices.end()});
        values.insert(values.end(), got.begin(), got.end());
        start += got.size() + 1;  // skips the refused one
    }
    return values;
}

}  // namespace

nlohmann::json saveVcpu(const kvm::Vcpu& vcpu, const std::vector<uint32_t>& msrIndices)
{
    nlohmann::json msrs = nlohmann::json::array();
    for (auto [index, value] : readableMsrs(vcpu, msrIndices))
        msrs.push_back({index, value});
    return {
        {"id", vcpu.id()},
        {"regs", blob(vcpu.regs())},
        {"sregs", blob(vcpu.sregs())},
        {"xsave", blob(vcpu.xsave())},
        {"xcrs", blob(vcpu.xcrs())},
        {"lapic", blob(vcpu.lapic())},
        {"mp_state", blob(vcpu.mpState())},
        {"events", blob(vcpu.events())},
        {"debugregs", blob(vcpu.debugRegs())},
        {"msrs", msrs},
    };
}

void restoreVcpu(kvm::Vcpu& vcpu, const nlohmann::json& state)
{
    std::string what = "vcpu" + std::to_string(vcpu.id());
    auto field = [&](const char* key) -> const nlohmann::json& { return stateField(state, key, what); };
    // Decoded first, so a damaged state changes nothing.
    auto mpState = fromBlob<kvm_mp_state>(field("mp_state"), what + ".mp_state");
    auto regs = fromBlob<kvm_regs>(field("regs"), what + ".regs");
    auto sregs = fromBlob<kvm_sregs>(field("sregs"), what + ".sregs");
    auto xsave = fromBlob<kvm_xsave>(field("xsave"), what + ".xsave");
    auto xcrs = fromBlob<kvm_xcrs>(field("xcrs"), what + ".xcrs");
    auto debugRegs = fromBlob<kvm_debugregs>(field("debugregs"), what + ".debugregs");
    auto lapic = fromBlob<kvm_lapic_state>(field("lapic"), what + ".lapic");
    auto events = fromBlob<kvm_vcpu_events>(field("events"), what + ".events");
    auto msrs = readState<std::vector<std::pair<uint32_t, uint64_t>>>(field("msrs"), what + ".msrs");
    // Firecracker's order: the LAPIC after sregs (which hold the APIC base), MSRs after
    // the LAPIC (x2APIC ones), events last (they may name an interrupt in the LAPIC).
    vcpu.setMpState(mpState);
    vcpu.setRegs(regs);
    vcpu.setSregs(sregs);
    vcpu.setXsave(xsave);
    vcpu.setXcrs(xcrs);
    vcpu.setDebugRegs(debugRegs);
    vcpu.setLapic(lapic);
    auto refused = vcpu.trySetMsrs(msrs);
    if (!refused.empty()) {
        // Not silent, not fatal: an MSR this host's KVM reads but does not let us write.
        std::cerr << "mica-vmm: " << what << ": KVM did not take back " << refused.size() << " MSR(s):";
        for (uint32_t index : refused)
            std::cerr << " 0x" << std::hex << index << std::dec;
        std::cerr << std::endl;
    }
    vcpu.setEvents(events);
}

nlohmann::json saveVmChips(const kvm::Vm& vm, const kvm_clock_data& clock)
{
    return {
        {"pic_master", blob(vm.irqchip(KVM_IRQCHIP_PIC_MASTER))},
        {"pic_slave", blob(vm.irqchip(KVM_IRQCHIP_PIC_SLAVE))},
        {"ioapic", blob(vm.irqchip(KVM_IRQCHIP_IOAPIC))},
        {"pit", blob(vm.pit())},
        {"clock", blob(clock)},
    };
}

kvm_clock_data restoreVmChips(kvm::Vm& vm, const nlohmann::json& state)
{
    std::string what = "vm";
    std::vector<kvm_irqchip> chips;
    for (const char* key : {"pic_master", "pic_slave", "ioapic"})
        chips.push_back(fromBlob<kvm_irqchip>(stateField(state, key, what), what + "." + key));
    auto pit = fromBlob<kvm_pit_state2>(stateField(state, "pit", what), what + ".pit");
    auto clock = fromBlob<kvm_clock_data>(stateField(state, "clock", what), what + ".clock");
    for (uint32_t chip = 0; chip < chips.size(); ++chip)
        if (chips[chip].chip_id != chip)
            throw StateError(what + ": interrupt controller " + std::to_string(chip) + " saved as chip " +
                             std::to_string(chips[chip].chip_id));
    vm.setPit(pit);
    for (const auto& chip : chips)
        vm.setIrqchip(chip);
    return clock;
}

}  // namespace mica::x86
