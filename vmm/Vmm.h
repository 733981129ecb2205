// The VMM's control loop: the one VM this process runs, its state machine (NotCreated,
// Created, Running, Paused, Shutdown) and the operations the REST API and the command
// line drive. The running VM lives on a `vm` thread that also serves guest reboots.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "CharBackend.h"
#include "CommandLine.h"
#include "Error.h"
#include "EventLoop.h"
#include "EventMonitor.h"
#include "Kvm.h"
#include "VirtualMachine.h"
#include "VmConfig.h"

namespace mica {

enum class VmState { NotCreated, Created, Running, Paused, Shutdown };
const char* vmStateName(VmState);

// An operation refused in the current state (409) or with bad input (400).
class ApiError : public Error {
public:
    ApiError(int status, const std::string& message) : Error(message), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

class Vmm {
public:
    // statsOnExit: each time the guest stops (a power-off, a reset, an error), its
    // vm.counters go to stderr as one line, "mica-vmm: counters: {...}".
    Vmm(EventLoop& loop, EventMonitor& events, CommandLine::OnReboot onReboot, bool statsOnExit = false);
    ~Vmm();

    void create(VmConfig config);
    void boot();
    void pause();
    // vm.affinity: vCPU `vcpu` runs on these host CPUs now and after every reboot.
    void setVcpuAffinity(unsigned vcpu, std::vector<unsigned> hostCpus);
    // vm.disk-iotune: disk `id`'s I/O limits, now (when it runs) and after every reboot.
    void setDiskIoLimits(const std::string& id, const IoLimits& limits);
    // vm.resize-disk: disk `id` of the running VM grows to `bytes`; the guest sees it.
    void resizeDisk(const std::string& id, uint64_t bytes);
    // vm.resize: what is given of the VM's vCPU count, RAM and balloon size, now (when it
    // runs) and after every reboot. Only the balloon moves at run time so far.
    struct Resize {
        std::optional<unsigned> vcpus;
        std::optional<uint64_t> ram, balloon;
    };
    void resize(const Resize& to);
    // vm.nmi: an NMI to every vCPU of the running or paused VM.
    void injectNmi();
    // PCI hotplug (vm.add-disk, vm.add-net, vm.remove-device). An added device joins the
    // configuration (a reboot and a snapshot keep it): a running or paused VM's guest is
    // told through ACPI and the answer is {"id", "bdf"}; a VM not running yet only gets it
    // in its configuration (the answer is null). `file`: the disk's image, opened by the
    // caller; `fds`: the NIC's TAP queues, which its "fds" index. 409: the id is in use.
    // `files`: files the caller opened for the disk (its image, its backing chain), by path.
    nlohmann::json addDisk(DiskConfig disk, std::map<std::string, UniqueFd> files);
    nlohmann::json addNet(NetConfig net, std::vector<UniqueFd> fds);
    // A VM not running loses the device at once. A running one's guest is asked to let it
    // go: the answer comes first, the "device-removed" event when the guest has ejected it
    // (then it leaves the configuration), or "device-removal-failed" when it has not
    // after `timeoutMs` (the device stays, working). 404: no such disk or NIC; 409: asked
    // already.
    void removeDevice(const std::string& id, uint64_t timeoutMs = 10000);
    void resume();
    void shutdown();       // stops the guest now; the VM can boot again or be deleted
    void reboot();
    void powerButton();
    void remove();         // vm.delete
    // vm.snapshot: a paused VM's config, state and RAM into the directory of a file://
    // URL; vm.restore: a VM rebuilt from one, paused (no VM may exist yet). `serial`
    // replaces the snapshot's serial backend (the command line's --serial); `memoryMode`
    // is how RAM comes back (snapshot::MemoryRestoreMode).
    // `handedDirectory`: that directory, opened by the caller (vm.snapshot's
    // destination_fd), for a VMM that cannot reach the path itself.
    void snapshot(const std::string& destinationUrl, UniqueFd handedDirectory = {});
    // Stops a vm.snapshot writing RAM (it answers 409, the directory half written): the
    // SIGUSR1 handler's, async from the API thread.
    void cancelSnapshot() { snapshotCancel_ = true; }
    // `fds` stand in for the snapshot's handed fds: its net entries name them by index,
    // as vm.create's did (the fds themselves cannot be saved). `memory`: the RAM is not
    // the directory's memory file but fds[index] from byte offset on (a save image).
    // `config`: replaces the snapshot's config.json (virtmicad sends the domain XML's);
    // it is checked against the saved state as that is.
    struct MemoryInFd {
        unsigned index;
        uint64_t offset;
    };
    void restore(const std::string& sourceUrl, std::optional<CharBackendConfig> serial = std::nullopt,
                 snapshot::MemoryRestoreMode memoryMode = snapshot::MemoryRestoreMode::Copy,
                 std::vector<UniqueFd> fds = {}, std::optional<MemoryInFd> memoryIn = std::nullopt,
                 const std::optional<nlohmann::json>& config = std::nullopt);
    nlohmann::json info();
    nlohmann::json counters();
    // vm.dirty-log: KVM's dirty page log of the running VM (VirtualMachine::dirtyLog).
    void setDirtyLogging(bool on);
    nlohmann::json dirtyLog();

    // Live block operations on a running or paused VM's disk `id` (VmmBlock.cpp).
    // vm.disk-snapshot: a new qcow2 overlay at `overlayPath` becomes the disk's top,
    // over its chain as it is; `overlay`: that file, created empty by the caller, or
    // none (then the VMM creates it, and refuses one that exists).
    void diskSnapshot(const std::string& id, const std::string& overlayPath, UniqueFd overlay);
    // vm.block-commit: a job copies what the images above `base` (default: the one
    // below the top) hold into it; `baseFile`: the base open for writing, or none.
    void blockCommit(const std::string& id, const std::optional<std::string>& base, UniqueFd baseFile);
    nlohmann::json blockJobs();  // vm.block-job: each disk's job
    void blockJobComplete(const std::string& id);
    void blockJobCancel(const std::string& id);

    // Asks the process to end with `status` (vmm.shutdown, a signal, the guest's power-off).
    void requestExit(int status);
    // Blocks until requestExit(); stops a running VM first. Returns the exit status.
    int waitForExit();

private:
    void runLoop(std::unique_ptr<VirtualMachine> vm, const char* startEvent);
    void startVmThread(std::unique_ptr<VirtualMachine> vm, const char* startEvent);  // with mutex_ held
    void createLocked(VmConfig config, std::unique_ptr<CharBackend>& oldSerial, std::unique_ptr<CharBackend>& oldConsole);
    VirtualMachine& running();  // with mutex_ held; throws ApiError unless Running/Paused
    void joinVmThread();        // without mutex_ held: the vm thread takes it
    // With mutex_ held; throw ApiError 404 for an unknown disk.
    block::LiveDisk& liveDisk(const std::string& id);
    DiskConfig& diskConfig(const std::string& id);
    nlohmann::json addDevice(VmConfig changed);   // with mutex_ held
    // Built VMs report their ejects here (the devices loop).
    void watchRemovals(VirtualMachine& vm);
    void deviceRemoved(const std::string& id);
    void dropFromConfig(const std::string& id);   // with mutex_ held
    void removalTimedOut(const std::string& id);
    // With mutex_ held: forgets the removal of `id` (or all), its timer off the loop
    // (returned: the caller removes it from the loop without mutex_ held).
    std::vector<UniqueFd> endRemovals(const std::optional<std::string>& id);

    std::optional<kvm::Kvm> kvm_;  // opened at the first boot: the API serves without KVM
    EventLoop& loop_;
    EventMonitor& events_;
    CommandLine::OnReboot onReboot_;
    bool statsOnExit_;

    std::mutex mutex_;
    std::condition_variable exitRequested_;
    std::optional<int> exitStatus_;
    VmState state_ = VmState::NotCreated;
    std::optional<VmConfig> config_;
    std::unique_ptr<CharBackend> serial_;
    std::unique_ptr<CharBackend> console_;  // the virtio console's, when there is one
    VirtualMachine* current_ = nullptr;  // owned by the vm thread while it runs
    std::mutex joinMutex_;      // two threads must never join vmThread_ at once
    std::thread vmThread_;
    std::atomic<bool> snapshotCancel_{false};
    // A commit's base handed over for writing, by disk id: a pivot puts it in config_'s
    // handed files, so a reboot opens the base with it.
    std::map<std::string, std::shared_ptr<const UniqueFd>> commitBaseFiles_;
    // Devices whose guest was asked to let them go and has not yet, with their deadline
    // timers (on loop_).
    std::map<std::string, UniqueFd> removals_;
};

}  // namespace mica
