// One boot of one VM: guest memory, the KVM VM with its in-kernel irqchip, the legacy
// devices, the loaded kernel and its vCPUs (whose threads a vcpu::VcpuManager owns and
// drives). run() returns when the guest powers off, resets or fails; a reset is served by
// building a new VirtualMachine.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "AcpiGed.h"
#include "AcpiPm.h"
#include "BinaryStats.h"
#include "CoalescedRing.h"
#include "EventLoop.h"
#include "GsiRouter.h"
#include "GuestMemory.h"
#include "IoBus.h"
#include "Kvm.h"
#include "MemoryImage.h"
#include "PciBus.h"
#include "PciHotplugController.h"
#include "Serial8250.h"
#include "VcpuManager.h"
#include "Vm.h"
#include "IoThread.h"
#include "LiveDisk.h"
#include "VirtioBalloon.h"
#include "VirtioBlock.h"
#include "VirtioConsole.h"
#include "VirtioPciDevice.h"
#include "VmConfig.h"

namespace mica {

enum class VmExit { PowerOff, Reset, Stopped, Error };

// What a VM is restored from: a snapshot's state.json and its memory file.
struct RestoreSource {
    const nlohmann::json& state;
    int memoryFd;
    snapshot::MemoryRestoreMode memoryMode = snapshot::MemoryRestoreMode::Copy;
    uint64_t memoryOffset = 0;   // where the RAM starts in memoryFd
};

class VirtualMachine {
public:
    // Builds everything and loads the kernel; throws Error on any failure, before any
    // vCPU runs. The serial port writes to `serial` (which outlives this VM). Virtio
    // devices serve their queues on `loop` and the virtio console writes to `console`
    // (both outlive this VM too).
    // With `restore`, nothing is loaded: RAM, KVM and device state come from the
    // snapshot (StateError when it does not fit this configuration), and the VM starts
    // paused: run() lets no vCPU into the guest until resume().
    VirtualMachine(const VmConfig& config, const kvm::Kvm& kvm, CharBackend* serial, EventLoop* loop = nullptr,
                   CharBackend* console = nullptr, const RestoreSource* restore = nullptr);
    ~VirtualMachine();

    // Starts the vCPUs and blocks until the guest (or stop()) ends this boot.
    VmExit run();
    // Ends the boot from another thread (a signal, the API). The first reason wins.
    void stop(VmExit reason);
    void pressPowerButton() { acpiPm_->pressPowerButton(); }
    // Stops every vCPU outside KVM_RUN, freezes the guest's kvmclock and pauses every
    // device (none touches guest memory or raises an interrupt); resume() restarts them
    // with the clock where it stopped, so guest time does not jump.
    void pause();
    void resume();
    // A paused VM's state (state.json) and RAM (into `memoryFd`); returns bytes written.
    nlohmann::json saveState();
    // `cancel`: as snapshot::saveMemory's.
    uint64_t saveMemory(int memoryFd, const std::atomic<bool>* cancel = nullptr);
    Serial8250& serial() { return *serial_; }
    // Bytes from the console backend for the guest's hvc0 (dropped without a console).
    void consoleInput(std::span<const uint8_t> bytes);
    // KVM's dirty page log of guest RAM (vm.dirty-log): switched on or off, and read as
    // the pages written per region since the last read (which clears it).
    void setDirtyLogging(bool on);
    nlohmann::json dirtyLog();
    // Per-device I/O counters for vm.counters: {"serial": {"tx_bytes": N, "rx_bytes": N}}.
    nlohmann::json counters();
    // Each PCI device by id: its type, BDF and the resources it holds (BARs, MSI-X
    // vectors), for vm.info's "device_tree".
    nlohmann::json deviceTree() const;
    // Moves vCPU `vcpu`'s thread to these host CPUs (the config's affinity is this
    // boot's starting point); throws Error when the host refuses the set or the boot has
    // ended.
    void setVcpuAffinity(unsigned vcpu, const std::vector<unsigned>& hostCpus);
    // An NMI to every vCPU (vm.nmi); Error once the boot has ended.
    void injectNmi();
    // Disk `id` (Error: no such disk), for vm.disk-iotune, vm.resize-disk and changes
    // of its chain.
    virtio::VirtioBlock& disk(const std::string& id);
    // Disk `id`'s chain (disk-only snapshots, block jobs); Error: no such disk.
    block::LiveDisk& liveDisk(const std::string& id);
    // The balloon, or null when the VM has none (vm.resize's desired_balloon).
    virtio::VirtioBalloon* balloon() const { return balloon_.get(); }

    // PCI hotplug through ACPI (the DSDT's GED and PHPR). hotAdd(): the disk or NIC `id`
    // of `config` (validateConfig() gave it its slot) is built as a boot would build it,
    // plugged with decoding off for the guest to place, and the guest is told; returns its
    // BDF. `config` stays with the device: its handed files are the device's. Error: it
    // cannot be made or plugged (nothing of it is left then).
    std::string hotAdd(std::shared_ptr<const VmConfig> config, const std::string& id);
    // Asks the guest to let PCI device `id` go (Error: none). The guest's _EJ0 unplugs it
    // on its vCPU thread; its teardown then runs on the devices loop, which calls
    // `removed(id)` after (also for an eject the guest did on its own).
    void requestRemoval(const std::string& id);
    // Withdraws the request (the guest's next scan no longer sees it); an eject that comes
    // anyway still removes the device.
    void cancelRemoval(const std::string& id);
    // Set before run(): called on the devices loop.
    void onDeviceRemoved(std::function<void(const std::string& id)> removed);
    // Why run() returned Error.
    const std::string& error() const { return error_; }

private:
    void createDevices(CharBackend* serialBackend);
    void restoreFrom(const RestoreSource& source);
    void pauseDevices();
    void resumeDevices();
    void createPciDevices(EventLoop* loop, CharBackend* consoleBackend);
    struct PlacedDevice;
    // One disk or NIC of `config`, built and plugged (with devicesMutex_ held).
    PlacedDevice& plugDisk(const DiskConfig& disk, std::function<UniqueFd(const std::string&)> handedFile, bool hotplug);
    PlacedDevice& plugNet(const VmConfig& config, const NetConfig& net, size_t index, bool hotplug);
    PlacedDevice& plug(const PciDeviceConfig& where, const char* type, std::shared_ptr<virtio::VirtioDevice> device,
                       EventLoop* deviceLoop, bool hotplug);
    EventLoop* newIoThread(const std::string& name);
    // On the vCPU thread that wrote B0EJ; then on the devices loop.
    void eject(unsigned slot);
    void tearDownEjected();
    void writePlatformTables();
    void openKvmStats(const std::vector<std::unique_ptr<kvm::Vcpu>>& vcpus);
    // On a vCPU thread (vcpu::VcpuHooks).
    void handleExit(kvm::Vcpu& vcpu);
    // The first reason (and, for Error, message) ends the boot.
    void end(VmExit reason, const std::string& error);
    bool ended();
    void routeLegacyIrqs();
    void startCoalescing(const kvm::Kvm& kvm, kvm::Vcpu& anyVcpu);  // the ring is in its kvm_run mapping
    size_t drainCoalesced();
    void armDrainTimer(bool soon);
    IrqLine irqLine(uint32_t gsi);

    const VmConfig config_;  // this boot's own copy: the VMM's may change meanwhile
    GuestMemory memory_;
    kvm::Vm vm_;
    IoBus pio_{"port I/O"};
    IoBus mmio_{"MMIO"};
    std::shared_ptr<Serial8250> serial_;
    std::shared_ptr<AcpiPm> acpiPm_;
    std::shared_ptr<AcpiGed> ged_;
    std::shared_ptr<PciHotplugController> pciHotplug_;
    std::shared_ptr<Component> rtc_, i8042_;
    // Declared in teardown order: devices unmap from the bus and leave their I/O
    // threads' loops, then drop their routes; the I/O threads end last.
    std::vector<std::unique_ptr<virtio::IoThread>> ioThreads_;
    std::unique_ptr<pci::GsiRouter> gsiRouter_;
    std::unique_ptr<pci::PciBus> pciBus_;
    std::shared_ptr<virtio::VirtioConsole> console_;
    std::shared_ptr<virtio::VirtioBalloon> balloon_;
    // Every PCI function but the host bridge, in plug order: the device tree, and their
    // states in a snapshot (which a restore matches by slot).
    struct PlacedDevice {
        std::string id;
        const char* type;
        uint8_t slot;
        std::shared_ptr<virtio::VirtioPciDevice> device;
        virtio::IoThread* ioThread = nullptr;   // its own, in ioThreads_, if it has one
        std::shared_ptr<const VmConfig> config; // a hot-added one's: its handed files
    };
    std::vector<PlacedDevice> pciDevices_;
    // Disks and NICs by id, for counters().
    std::vector<std::pair<std::string, std::shared_ptr<virtio::VirtioDevice>>> disks_, nets_;
    // Guards pciDevices_, disks_, nets_ and ioThreads_, which hotplug changes while vCPUs
    // run (the eject comes on a vCPU thread) and the API reads.
    mutable std::mutex devicesMutex_;
    // Ejected devices waiting for their teardown on the devices loop (ejectEvent_).
    struct Ejected {
        std::unique_ptr<virtio::IoThread> ioThread;   // ends last
        PlacedDevice placed;
        std::shared_ptr<virtio::VirtioDevice> device;  // disks_'s or nets_'s reference
    };
    std::vector<Ejected> ejected_;
    std::set<std::string> removalsAsked_;
    UniqueFd ejectEvent_;
    std::function<void(const std::string&)> deviceRemoved_;
    unsigned nextDiskThread_ = 0, nextNetThread_ = 0;   // _disk<N>, _net<N>: never a live one's name
    // Each disk's chain, owned by its device in disks_.
    // Before coalesced_, so it is destroyed after it: the ring lives in vCPU 0's kvm_run
    // mapping. Its threads use everything above; the destructor stops them first.
    std::optional<vcpu::VcpuManager> vcpus_;
    // KVM's own counters of the VM and of each vCPU (vm.counters' "kvm:vm", "kvm:vcpuN").
    std::optional<kvm::BinaryStats> vmStats_;
    std::atomic<bool> dirtyLogging_{false};
    std::vector<kvm::BinaryStats> vcpuStats_;
    // Exits that reached this process, by KVM exit reason (vm.counters "exits:reason").
    std::array<std::atomic<uint64_t>, 64> exitReasons_{};
    // COM1's data register writes queue here (no exit per byte); drained before each exit
    // is handled and by drainTimer_ on `loop_`, for a guest that writes and then waits.
    std::unique_ptr<kvm::CoalescedRing> coalesced_;
    EventLoop* loop_ = nullptr;
    UniqueFd drainTimer_;

    // How the boot ends. A lock of its own: vCPU threads take it (end()) while
    // controlMutex_'s holder waits for them to answer a command.
    std::mutex exitMutex_;
    std::condition_variable stopped_;
    std::optional<VmExit> exit_;
    std::string error_;
    // Serializes run()'s start, pause(), resume() and the saves.
    std::mutex controlMutex_;
    bool started_ = false;  // run() has begun: resume() lets the vCPUs into the guest
    bool paused_ = false;
    kvm_clock_data pausedClock_{};
};

}  // namespace mica
