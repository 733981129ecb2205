// Owns a VM's vCPU threads (after Cloud Hypervisor's CpuManager) and drives them only by
// commands: each call below sends one to every vCPU's channel and, but for
// requestStop(), returns once every vCPU has answered.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "VcpuThread.h"

namespace mica::vcpu {

class VcpuManager {
public:
    // Starts one thread per vCPU (created and given its CPUID by the caller), each on the
    // host CPUs `affinity` names for it; none enters the guest before run().
    // `msrIndices`: the MSRs a saved state holds (KVM_GET_MSR_INDEX_LIST).
    VcpuManager(std::vector<std::unique_ptr<kvm::Vcpu>> vcpus, VcpuHooks hooks,
                const std::map<unsigned, std::vector<unsigned>>& affinity, std::vector<uint32_t> msrIndices);
    // stop()
    ~VcpuManager();

    size_t count() const { return threads_.size(); }
    // Every vCPU into the guest.
    void run();
    // Every vCPU out of KVM_RUN, its kvmclock told; it stays out until run().
    void pause();
    // Every vCPU's state in vCPU order, each read on its own thread. Paused vCPUs only.
    nlohmann::json saveStates();
    // `states` (one per vCPU, as saveStates() gave them) onto vCPUs that have not run;
    // throws the first vCPU's error (a StateError for a damaged state).
    void restoreStates(const nlohmann::json& states);
    // vCPU `vcpu`'s thread moves itself to these host CPUs; throws Error when it cannot.
    void setAffinity(unsigned vcpu, const std::vector<unsigned>& hostCpus);
    // An NMI to every vCPU (as QEMU's `nmi` and Cloud Hypervisor's vm.nmi do).
    void injectNmi();
    // Tells every thread to end and returns at once: a vCPU thread may call it (a guest
    // that powers off or resets).
    void requestStop();
    // Ends every thread and waits for it. Never from a vCPU thread.
    void stop();

private:
    // Sends the command to every vCPU, then waits for every answer: all of them, even
    // when one failed, so no command is still being served when this returns. Throws the
    // first vCPU's exception.
    std::vector<nlohmann::json> broadcast(VcpuCommand::Kind kind, const nlohmann::json* states = nullptr);

    const VcpuHooks hooks_;
    const std::vector<uint32_t> msrIndices_;
    std::vector<std::unique_ptr<VcpuThread>> threads_;  // last: its threads use the above
};

}  // namespace mica::vcpu
