// One vCPU's thread: it owns the kvm::Vcpu, runs it while told to, and serves its
// command channel between KVM_RUN calls. Everything that touches the vCPU's state after
// creation (save, restore, its kvmclock, its host CPUs) happens here, on the thread KVM
// wants it on.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

#include "Vcpu.h"
#include "VcpuChannel.h"

namespace mica::vcpu {

// vCPU threads are kicked out of KVM_RUN with a signal whose handler does nothing.
// main() installs it once, before any thread (and its seccomp filter) starts.
void installVcpuKickHandler();
// Called once by main() before any thread starts: the CPUs a vCPU not pinned by
// cpus.affinity runs on.
void rememberStartCpus();

// What a vCPU thread calls back into its VM for, on the vCPU thread.
struct VcpuHooks {
    // One KVM_RUN exit that needs the VMM (port or MMIO access, shutdown, ...).
    std::function<void(kvm::Vcpu&)> handleExit;
    // The vCPU cannot go on (KVM failed, a device threw, its filter would not load): the
    // VM ends with this error. The thread stays out of the guest and serves commands.
    // Called only once the vCPU was told to run, so the VM is whole by then.
    std::function<void(const std::string& error)> fail;
};

class VcpuThread {
public:
    // Starts the thread, which takes `pin` as its host CPUs (else those the VMM started
    // on), installs its seccomp filter and waits for a Run. `hooks` and `msrIndices`
    // (what SaveState reads) outlive it.
    VcpuThread(std::unique_ptr<kvm::Vcpu> vcpu, const VcpuHooks& hooks, std::optional<std::vector<unsigned>> pin,
               const std::vector<uint32_t>& msrIndices);
    // Stops the thread and waits for it.
    ~VcpuThread();
    VcpuThread(const VcpuThread&) = delete;
    VcpuThread& operator=(const VcpuThread&) = delete;

    const std::string& name() const { return name_; }
    std::future<nlohmann::json> send(VcpuCommand::Kind kind, nlohmann::json state = nullptr,
                                     std::vector<unsigned> hostCpus = {})
    {
        return channel_.send(kind, std::move(state), std::move(hostCpus));
    }
    // Sends Stop and waits for the thread to end. Not from the thread itself.
    void join();

private:
    void main(std::optional<std::vector<unsigned>> pin);
    void kick();
    // Serves one command; returns whether the vCPU is to run the guest now.
    bool serve(VcpuCommand& command, bool running);

    const std::string name_;
    std::unique_ptr<kvm::Vcpu> vcpu_;
    const VcpuHooks& hooks_;
    const std::vector<uint32_t>& msrIndices_;
    // Only the thread reads and writes these.
    std::optional<std::string> setupError_;  // reported at the first Run
    bool failed_ = false;
    VcpuChannel channel_;
    std::thread thread_;
    pthread_t handle_{};
};

}  // namespace mica::vcpu
