// The command queue of one vCPU thread (Firecracker's vCPU event channel, Cloud
// Hypervisor's CpuManager state flags made explicit): whoever drives the vCPU sends a
// command and waits on its answer; the vCPU thread takes commands between KVM_RUN calls.
// Nothing here knows KVM: the owner's `kick` gets a thread inside KVM_RUN out of it.
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mica::vcpu {

struct VcpuCommand {
    enum class Kind {
        Run,           // into the guest, and keep going back in after each exit
        Pause,         // out of KVM_RUN, until the next Run
        SaveState,     // answered with the vCPU's state (it must be paused)
        RestoreState,  // takes `state` (before the vCPU first runs)
        SetAffinity,   // the thread moves itself to `hostCpus`
        InjectNmi,     // an NMI queued for the vCPU's next entry (it keeps running or paused)
        Stop,          // the thread ends; its channel answers whatever comes later
    };
    Kind kind;
    nlohmann::json state;
    std::vector<unsigned> hostCpus;
    // SaveState's state, null for the others; or the exception the command ended in.
    std::promise<nlohmann::json> reply;
};

class VcpuChannel {
public:
    // `who` names the vCPU in errors ("vcpu0"). `kick` is called, with the channel's lock
    // held, after each command is queued: the thread cannot end (close()) meanwhile, so
    // the kick never reaches a thread that has gone.
    VcpuChannel(std::string who, std::function<void()> kick) : who_(std::move(who)), kick_(std::move(kick)) {}

    std::future<nlohmann::json> send(VcpuCommand::Kind kind, nlohmann::json state = nullptr,
                                     std::vector<unsigned> hostCpus = {});
    // The vCPU thread's side, oldest first. With `wait`, blocks until a command comes;
    // without, returns nullopt when none is queued (the thread goes back into the guest).
    std::optional<VcpuCommand> receive(bool wait);
    // The thread is leaving (after Stop): the queued commands and every later one are
    // answered here, as answerStopped() says.
    void close();

private:
    // A stopped vCPU is out of the guest for good: Run, Pause and Stop are done; what needs
    // the thread (its state, its affinity) fails.
    void answerStopped(VcpuCommand& command) const;

    const std::string who_;
    const std::function<void()> kick_;
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<VcpuCommand> queue_;
    bool closed_ = false;
};

}  // namespace mica::vcpu
