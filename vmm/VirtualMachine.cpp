#include "VirtualMachine.h"

#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "AcpiTables.h"
#include "CmosRtc.h"
#include "Cpuid.h"
#include "Error.h"
#include "I8042.h"
#include "KernelLoader.h"
#include "KvmState.h"
#include "MemoryImage.h"
#include "SnapshotDir.h"
#include "StateJson.h"
#include "ValidateConfig.h"
#include "Layout.h"
#include "MpTable.h"
#include "PciConfigAccess.h"
#include "Tap.h"
#include "VirtioBalloon.h"
#include "VirtioBlock.h"
#include "VirtioNet.h"
#include "VirtioRng.h"
#include "VirtioVsock.h"
#include "Seccomp.h"
#include "VcpuSetup.h"
#include "i18n.h"

namespace mica {

namespace {
x86::PlatformDesc platformDesc(const VmConfig& config)
{
    x86::PlatformDesc desc;
    desc.cpus = config.cpus.boot;
    desc.maxCpus = config.cpus.max;
    desc.ioapicAddr = x86::kIoapicAddr;
    desc.lapicAddr = x86::kLapicAddr;
    desc.pmEventPort = x86::kPmEventPort;
    desc.pmControlPort = x86::kPmControlPort;
    desc.sciIrq = x86::kSciIrq;
    desc.s5SlpTyp = x86::kS5SleepType;
    desc.resetPort = 0x64;   // the i8042's command port ...
    desc.resetValue = 0xfe;  // ... and its "pulse reset line" command
    desc.pciEcamBase = x86::kPciEcamBase;
    desc.pciBusStart = 0;
    desc.pciBusEnd = x86::kPciBusEnd;
    desc.pciMmio32Base = static_cast<uint32_t>(x86::kPciMmio32Base);
    desc.pciMmio32Size = static_cast<uint32_t>(x86::kPciMmio32Size);
    // Above RAM (which ends at 4 GiB + whatever did not fit below 3 GiB), 1 GiB aligned.
    uint64_t ramEnd = x86::kRamAbove4g + (config.memory.size > x86::kMmioHoleStart ? config.memory.size - x86::kMmioHoleStart : 0);
    desc.pciMmio64Base = (ramEnd + (1ull << 30) - 1) & ~((1ull << 30) - 1);
    desc.pciMmio64Size = x86::kPciMmio64Size;
    desc.gedPort = x86::kGedPort;
    desc.gedGsi = x86::kGedGsi;
    desc.pciHotplugPort = x86::kPciHotplugPort;
    return desc;
}
}  // namespace

VirtualMachine::VirtualMachine(const VmConfig& config, const kvm::Kvm& kvm, CharBackend* serial, EventLoop* loop,
                               CharBackend* console, const RestoreSource* restore)
    : config_(config),
      memory_(config.memory.size, x86::kMmioHoleStart, x86::kRamAbove4g,
              {config.memory.hugePages, config.memory.memfd, config.memory.shared}),
      vm_(kvm.createVm())
{
    if (config.cpus.max > kvm.maxVcpus())
        throw Error(_("this host's KVM allows at most ") + std::to_string(kvm.maxVcpus()) + _(" vCPUs"));
    vm_.setTssAddress(x86::kTssAddr);
    if (vm_.checkExtension(KVM_CAP_SET_IDENTITY_MAP_ADDR))
        vm_.setIdentityMapAddress(x86::kIdentityMapAddr);
    vm_.createIrqchip();
    routeLegacyIrqs();
    vm_.createPit();
    setDirtyLogging(false);

    createDevices(serial);
    createPciDevices(loop, console);
    std::optional<x86::BootEntry> entry;
    if (!restore) {
        x86::KernelImage image{config.payload.kernel, config.payload.initramfs, config.payload.cmdline,
                               config.handedFile(config.payload.kernel), config.handedFile(config.payload.initramfs)};
        entry = x86::loadKernel(memory_, image, x86::kRsdpAddr);
        writePlatformTables();
    }

    auto supported = kvm.supportedCpuid();
    bool tscDeadline = vm_.checkExtension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    std::vector<std::unique_ptr<kvm::Vcpu>> vcpus;
    for (unsigned id = 0; id < config.cpus.boot; ++id) {
        auto vcpu = std::make_unique<kvm::Vcpu>(vm_.createVcpu(id));
        x86::setupVcpu(*vcpu, x86::guestCpuid(supported, id, config.cpus.topology, tscDeadline));
        if (id == 0 && entry)
            x86::setupBootVcpu(*vcpu, memory_, *entry);
        vcpus.push_back(std::move(vcpu));
    }
    openKvmStats(vcpus);
    startCoalescing(kvm, *vcpus.front());
    if (loop_) {
        ejectEvent_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!ejectEvent_)
            throw systemError("eventfd");
        loop_->add(ejectEvent_.get(), [this] { tearDownEjected(); });
    }
    // Last: the vCPU threads start now, and their exits reach everything made above.
    vcpus_.emplace(std::move(vcpus),
                   vcpu::VcpuHooks{[this](kvm::Vcpu& vcpu) { handleExit(vcpu); },
                                   [this](const std::string& error) { end(VmExit::Error, error); }},
                   config_.cpus.affinity, kvm.msrIndexList());
    if (restore)
        restoreFrom(*restore);
}

void VirtualMachine::restoreFrom(const RestoreSource& source)
{
    const auto& state = source.state;
    snapshot::checkFormat(state);
    uint64_t size = readState<uint64_t>(stateField(stateField(state, "memory", "state"), "size", "memory"), "memory.size");
    if (size != memory_.size())
        throw StateError("the snapshot has " + std::to_string(size >> 20) + " MiB of RAM, the configuration " +
                         std::to_string(memory_.size() >> 20) + " MiB");
    const auto& vcpus = stateField(state, "vcpus", "state");
    if (!vcpus.is_array() || vcpus.size() != vcpus_->count())
        throw StateError("the snapshot has " + std::to_string(vcpus.is_array() ? vcpus.size() : 0) +
                         " vCPUs, the configuration " + std::to_string(vcpus_->count()));
    const auto& devices = stateField(state, "devices", "state");
    const auto& pci = stateField(devices, "pci", "devices");
    if (!pci.is_array() || pci.size() != pciDevices_.size())
        throw StateError("the snapshot has " + std::to_string(pci.is_array() ? pci.size() : 0) +
                         " PCI devices, the configuration " + std::to_string(pciDevices_.size()));
    // The same device set in the same slots: each saved one names its device. Matched
    // by slot, not position: hot-added devices were plugged in another order than the
    // configuration lists them.
    std::vector<const PlacedDevice*> matched;
    for (size_t i = 0; i < pci.size(); ++i) {
        auto slot = readState<unsigned>(stateField(pci[i], "slot", "pci"), "pci.slot");
        auto name = readState<std::string>(stateField(pci[i], "name", "pci"), "pci.name");
        auto id = readState<std::string>(stateField(pci[i], "id", "pci"), "pci.id");
        auto ours = std::find_if(pciDevices_.begin(), pciDevices_.end(), [&](const PlacedDevice& p) { return p.slot == slot; });
        if (ours == pciDevices_.end())
            throw StateError("the snapshot has " + name + " '" + id + "' in PCI slot " + std::to_string(slot) +
                             ", the configuration nothing there");
        if (name != ours->device->device().name() || id != ours->id || std::count(matched.begin(), matched.end(), &*ours))
            throw StateError("the snapshot has " + name + " '" + id + "' in PCI slot " + std::to_string(slot) +
                             ", the configuration " + ours->device->device().name() + " '" + ours->id + "'");
        matched.push_back(&*ours);
    }

    snapshot::loadMemory(memory_, source.memoryFd, source.memoryMode, source.memoryOffset);
    pausedClock_ = x86::restoreVmChips(vm_, stateField(state, "vm", "state"));
    serial_->pause();
    serial_->restore(stateField(devices, "serial", "devices"));
    rtc_->restore(stateField(devices, "rtc", "devices"));
    i8042_->restore(stateField(devices, "i8042", "devices"));
    acpiPm_->restore(stateField(devices, "acpi-pm", "devices"));
    for (size_t i = 0; i < pci.size(); ++i)
        matched[i]->device->restore(stateField(pci[i], "state", "pci"));
    pciBus_->followAllBars();
    vcpus_->restoreStates(vcpus);
    paused_ = true;  // run() lets no vCPU into the guest until resume()
}

nlohmann::json VirtualMachine::saveState()
{
    std::lock_guard lock(controlMutex_);
    if (!paused_)
        throw Error("the VM must be paused to save its state");
    nlohmann::json pci = nlohmann::json::array();
    std::lock_guard devices(devicesMutex_);
    for (const auto& placed : pciDevices_)
        pci.push_back({{"slot", placed.slot}, {"id", placed.id}, {"name", placed.device->device().name()},
                       {"state", placed.device->save()}});
    nlohmann::json vcpus = vcpus_->saveStates();
    return {
        {"format", snapshot::kFormat},
        {"version", snapshot::kVersion},
        {"memory", {{"size", memory_.size()}, {"file", snapshot::kMemoryFile}}},
        {"vm", x86::saveVmChips(vm_, pausedClock_)},
        {"vcpus", vcpus},
        {"devices",
         {{"serial", serial_->save()}, {"rtc", rtc_->save()}, {"i8042", i8042_->save()}, {"acpi-pm", acpiPm_->save()}, {"pci", pci}}},
    };
}

uint64_t VirtualMachine::saveMemory(int memoryFd, const std::atomic<bool>* cancel)
{
    std::lock_guard lock(controlMutex_);
    if (!paused_)
        throw Error("the VM must be paused to save its memory");
    return snapshot::saveMemory(memory_, memoryFd, cancel).bytesWritten;
}

void VirtualMachine::pauseDevices()
{
    drainCoalesced();  // the guest wrote these before it stopped
    serial_->pause();
    std::lock_guard lock(devicesMutex_);
    for (auto& placed : pciDevices_)
        placed.device->pause();
}

void VirtualMachine::resumeDevices()
{
    std::lock_guard lock(devicesMutex_);
    for (auto& placed : pciDevices_)
        placed.device->resume();
    serial_->resume();
}

VirtualMachine::~VirtualMachine()
{
    vcpus_->stop();  // run() stopped them already, unless it never ran
    if (drainTimer_)
        loop_->removeAndWait(drainTimer_.get());
    if (ejectEvent_)
        loop_->removeAndWait(ejectEvent_.get());
}

// Only with the devices loop to run the backstop timer: without it, a guest that writes
// and then halts (in-kernel HLT makes no exit) would keep its last bytes in the ring.
void VirtualMachine::startCoalescing(const kvm::Kvm& kvm, kvm::Vcpu& anyVcpu)
{
    if (!loop_)
        return;
    coalesced_ = kvm::CoalescedRing::create(vm_, anyVcpu, kvm.vcpuMmapSize());
    if (!coalesced_)
        return;
    coalesced_->addPorts(x86::kCom1Port, 1);
    drainTimer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!drainTimer_)
        throw systemError("timerfd_create");
    loop_->add(drainTimer_.get(), [this] {
        uint64_t expirations;
        [[maybe_unused]] auto ignored = ::read(drainTimer_.get(), &expirations, sizeof expirations);
        armDrainTimer(drainCoalesced() > 0 || serial_->sending());
    });
    armDrainTimer(false);
}

// Soon (10 ms) while the guest is sending; once a second otherwise, which costs an idle
// VM almost nothing and still delivers what a guest wrote without waiting for THRE.
void VirtualMachine::armDrainTimer(bool soon)
{
    itimerspec when{};
    when.it_value.tv_sec = soon ? 0 : 1;
    when.it_value.tv_nsec = soon ? 10'000'000 : 0;
    ::timerfd_settime(drainTimer_.get(), 0, &when, nullptr);
}

size_t VirtualMachine::drainCoalesced()
{
    if (!coalesced_)
        return 0;
    return coalesced_->drain([this](uint16_t port, uint32_t size, std::span<const uint8_t> bytes) {
        if (size == 1) {
            pio_.writeEach(port, bytes);
            return;
        }
        for (size_t at = 0; at + size <= bytes.size(); at += size)
            pio_.write(port, bytes.subspan(at, size));
    });
}

// KVM's default routing sends GSI n to IOAPIC pin n, but a PC wires the timer (ISA
// IRQ 0, which KVM's PIT raises as GSI 0) to IOAPIC pin 2, and the MADT says so. Without
// this the guest's tick stops once it leaves the PIC for the IOAPIC.
void VirtualMachine::routeLegacyIrqs()
{
    std::vector<kvm_irq_routing_entry> routes;
    auto add = [&](uint32_t gsi, uint32_t chip, uint32_t pin) {
        kvm_irq_routing_entry e{};
        e.gsi = gsi;
        e.type = KVM_IRQ_ROUTING_IRQCHIP;
        e.u.irqchip.irqchip = chip;
        e.u.irqchip.pin = pin;
        routes.push_back(e);
    };
    for (uint32_t gsi = 0; gsi < 24; ++gsi) {
        if (gsi < 16 && gsi != 2)  // the PIC: master 0-7 (2 cascades the slave), slave 8-15
            add(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
        if (gsi != 2)
            add(gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
    }
    gsiRouter_ = std::make_unique<pci::GsiRouter>(vm_, std::move(routes));
}

IrqLine VirtualMachine::irqLine(uint32_t gsi)
{
    return [this, gsi](bool level) { vm_.setIrqLine(gsi, level); };
}

void VirtualMachine::createDevices(CharBackend* serialBackend)
{
    serial_ = std::make_shared<Serial8250>(irqLine(x86::kCom1Irq), serialBackend);
    pio_.add(x86::kCom1Port, 8, serial_);
    auto i8042 = std::make_shared<I8042>([this] { stop(VmExit::Reset); });
    auto rtc = std::make_shared<CmosRtc>();
    pio_.add(0x60, 5, i8042);
    pio_.add(0x70, 2, rtc);
    i8042_ = i8042;
    rtc_ = rtc;
    acpiPm_ = std::make_shared<AcpiPm>(irqLine(x86::kSciIrq), x86::kS5SleepType, [this] { stop(VmExit::PowerOff); });
    pio_.add(x86::kPmEventPort, 6, acpiPm_);
    // PCI hotplug's registers are on port I/O: an eject unplugs BARs from the MMIO bus,
    // which a write on that bus (holding it) could not do.
    ged_ = std::make_shared<AcpiGed>([this](bool level) { vm_.setIrqLine(x86::kGedGsi, level); });
    pio_.add(x86::kGedPort, AcpiGed::kSize, ged_);
    pciHotplug_ = std::make_shared<PciHotplugController>([this](unsigned slot) { eject(slot); });
    pio_.add(x86::kPciHotplugPort, PciHotplugController::kSize, pciHotplug_);
}

void VirtualMachine::createPciDevices(EventLoop* loop, CharBackend* consoleBackend)
{
    pciBus_ = std::make_unique<pci::PciBus>(mmio_, x86::kPciMmio32Base, x86::kPciMmio32Size);
    pio_.add(0xcf8, 8, std::make_shared<pci::PciConfigIo>(*pciBus_));
    mmio_.add(x86::kPciEcamBase, x86::kPciEcamSize, std::make_shared<pci::PciEcam>(*pciBus_));
    bool wanted = !config_.disks.empty() || !config_.nets.empty() || config_.rng.enabled || config_.console.enabled ||
                  config_.vsock.enabled || config_.balloon.enabled;
    if (wanted && !loop)
        throw Error(_("virtio devices need the devices event loop"));
    loop_ = loop;
    std::lock_guard lock(devicesMutex_);
    // Disks and NICs get their own I/O thread (`_disk0`, `_net0`); the consoles, rng,
    // vsock and balloon share the `devices` loop.
    for (const auto& disk : config_.disks)
        plugDisk(disk, [this](const std::string& path) { return config_.handedFile(path); }, false);
    for (size_t i = 0; i < config_.nets.size(); ++i)
        plugNet(config_, config_.nets[i], i, false);
    if (config_.console.enabled) {
        console_ = std::make_shared<virtio::VirtioConsole>(consoleBackend);
        plug(config_.console, "virtio-console", console_, loop, false);
    }
    if (config_.rng.enabled)
        plug(config_.rng, "virtio-rng",
             std::make_shared<virtio::VirtioRng>(config_.rng.source, config_.handedFile(config_.rng.source)), loop, false);
    if (config_.vsock.enabled)
        plug(config_.vsock, "virtio-vsock", std::make_shared<virtio::VirtioVsock>(config_.vsock.cid, config_.vsock.socket, loop),
             loop, false);
    if (config_.balloon.enabled) {
        balloon_ = std::make_shared<virtio::VirtioBalloon>(memory_, config_.balloon.size, config_.balloon.freePageReporting,
                                                           config_.balloon.deflateOnOom);
        plug(config_.balloon, "virtio-balloon", balloon_, loop, false);
    }
}

EventLoop* VirtualMachine::newIoThread(const std::string& name)
{
    ioThreads_.push_back(std::make_unique<virtio::IoThread>(name, [] {
        applySeccomp(ThreadRole::Devices);
        seccompSelfTestPoint(ThreadRole::Devices);
    }));
    return &ioThreads_.back()->loop();
}

// Each in the slot its config names (validateConfig() gave every device one).
VirtualMachine::PlacedDevice& VirtualMachine::plug(const PciDeviceConfig& where, const char* type,
                                                   std::shared_ptr<virtio::VirtioDevice> device, EventLoop* deviceLoop,
                                                   bool hotplug)
{
    auto pci = std::make_shared<virtio::VirtioPciDevice>(std::move(device), memory_, &vm_, gsiRouter_.get(), deviceLoop);
    auto slot = pciBus_->add(pci, static_cast<uint8_t>(where.pciSlot.value_or(0)), hotplug).slot;
    pciDevices_.push_back({where.id, type, slot, pci, nullptr, nullptr});
    return pciDevices_.back();
}

VirtualMachine::PlacedDevice& VirtualMachine::plugDisk(const DiskConfig& disk,
                                                       std::function<UniqueFd(const std::string&)> handedFile, bool hotplug)
{
    std::string thread = "_disk" + std::to_string(nextDiskThread_++);
    // Its workers (`_disk0w`) and block jobs (`_disk0j`) do what its I/O thread does,
    // under the same filter.
    block::LiveDisk::Options chain{{disk.imageType, disk.readOnly, disk.direct, disk.shared, std::move(handedFile)},
                                   thread + "j", [] { applySeccomp(ThreadRole::Devices); }};
    EventLoop* loop = newIoThread(thread);
    virtio::IoThread* ioThread = ioThreads_.back().get();
    virtio::VirtioBlockOptions options{disk.id, disk.serial, static_cast<uint16_t>(disk.numQueues), disk.discard};
    options.ioEngine = disk.ioEngine;
    options.limits = disk.iotune;
    std::shared_ptr<virtio::VirtioBlock> device;
    try {
        auto image = std::make_unique<block::LiveDisk>(block::openImage(disk.path, chain.image), disk.imageType, chain);
        device = std::make_shared<virtio::VirtioBlock>(std::move(image), options, loop, thread,
                                                       [] { applySeccomp(ThreadRole::Devices); });
        auto& placed = plug(disk, "virtio-blk", device, loop, hotplug);
        placed.ioThread = ioThread;
        disks_.emplace_back(disk.id, device);
        return placed;
    } catch (const Error& e) {
        if (hotplug) {   // a boot that fails drops the whole VM; a hot-add only what it made
            device.reset();
            ioThreads_.pop_back();
        }
        throw Error("disk '" + disk.id + "': " + e.what());
    }
}

VirtualMachine::PlacedDevice& VirtualMachine::plugNet(const VmConfig& config, const NetConfig& net, size_t index,
                                                      bool hotplug)
{
    virtio::VirtioNetOptions options;
    options.id = net.id;
    options.mtu = static_cast<uint16_t>(net.mtu);
    options.mac[5] = static_cast<uint8_t>(0x56 + index);
    for (size_t b = 0; b < 6 && !net.mac.empty(); ++b)
        options.mac[b] = static_cast<uint8_t>(std::stoul(net.mac.substr(3 * b, 2), nullptr, 16));
    std::vector<UniqueFd> taps;
    try {
        // dup: the config keeps its fds for the next boot (a reboot rebuilds the VM).
        for (unsigned fdIndex : net.fds) {
            int fd = ::dup(config.handedFds.at(fdIndex)->get());
            if (fd < 0)
                throw systemError("tap fd: dup");
            taps.push_back(virtio::adoptTap(fd));
        }
        if (net.fds.empty())
            taps = virtio::openTap(net.tap, net.numQueues / 2);
    } catch (const Error& e) {
        throw Error("net '" + net.id + "': " + e.what());
    }
    EventLoop* netLoop = newIoThread("_net" + std::to_string(nextNetThread_++));
    virtio::IoThread* ioThread = ioThreads_.back().get();
    std::shared_ptr<virtio::VirtioNet> device;
    try {
        device = std::make_shared<virtio::VirtioNet>(std::move(taps), options, netLoop);
        auto& placed = plug(net, "virtio-net", device, netLoop, hotplug);
        placed.ioThread = ioThread;
        nets_.emplace_back(net.id, device);
        return placed;
    } catch (const Error& e) {
        if (hotplug) {
            device.reset();
            ioThreads_.pop_back();
        }
        throw Error("net '" + net.id + "': " + e.what());
    }
}

std::string VirtualMachine::hotAdd(std::shared_ptr<const VmConfig> config, const std::string& id)
{
    if (!loop_)
        throw Error(_("virtio devices need the devices event loop"));
    std::lock_guard control(controlMutex_);
    uint8_t slot;
    {
        PlacedDevice* placed = nullptr;
        std::lock_guard lock(devicesMutex_);
        for (const auto& p : pciDevices_)
            if (p.id == id)
                throw Error(_("a device '") + id + _("' is plugged already"));
        auto disk = std::find_if(config->disks.begin(), config->disks.end(), [&](const DiskConfig& d) { return d.id == id; });
        auto net = std::find_if(config->nets.begin(), config->nets.end(), [&](const NetConfig& n) { return n.id == id; });
        if (disk != config->disks.end())
            placed = &plugDisk(*disk, [config](const std::string& path) { return config->handedFile(path); }, true);
        else if (net != config->nets.end())
            placed = &plugNet(*config, *net, static_cast<size_t>(net - config->nets.begin()), true);
        else
            throw Error(_("no disk or NIC '") + id + _("' to plug"));
        placed->config = config;
        // A paused VM's devices are paused: this one joins them as they are.
        if (paused_)
            placed->device->pause();
        slot = placed->slot;
    }
    pciHotplug_->plugged(slot);
    ged_->notify(AcpiGed::kPciChanged);
    return pciBdf(slot);
}

void VirtualMachine::requestRemoval(const std::string& id)
{
    std::optional<uint8_t> slot;
    {
        std::lock_guard lock(devicesMutex_);
        for (const auto& p : pciDevices_)
            if (p.id == id)
                slot = p.slot;
        if (!slot)
            throw Error(_("no PCI device '") + id + "'");
        removalsAsked_.insert(id);
    }
    pciHotplug_->unplugRequested(*slot);
    ged_->notify(AcpiGed::kPciChanged);
}

void VirtualMachine::cancelRemoval(const std::string& id)
{
    std::lock_guard lock(devicesMutex_);
    removalsAsked_.erase(id);
    for (const auto& p : pciDevices_)
        if (p.id == id)
            pciHotplug_->cancelUnplug(p.slot);
}

void VirtualMachine::onDeviceRemoved(std::function<void(const std::string&)> removed)
{
    std::lock_guard lock(devicesMutex_);
    deviceRemoved_ = std::move(removed);
}

// The guest has let the function go (its driver unbound, the pci_dev removed): from now
// on the slot is empty to it. What the device holds (threads, images, TAPs, GSIs) goes on
// the devices loop: a vCPU thread must not wait for I/O threads.
void VirtualMachine::eject(unsigned slot)
{
    std::lock_guard lock(devicesMutex_);
    auto placed = std::find_if(pciDevices_.begin(), pciDevices_.end(), [&](const PlacedDevice& p) { return p.slot == slot; });
    if (placed == pciDevices_.end() || !ejectEvent_) {
        std::cerr << "mica-vmm: the guest ejected PCI slot " << slot << ", which holds no hot-pluggable device" << std::endl;
        return;
    }
    pciBus_->remove(static_cast<uint8_t>(slot));
    pciHotplug_->cancelUnplug(slot);
    Ejected gone{nullptr, std::move(*placed), nullptr};
    pciDevices_.erase(placed);
    for (auto* list : {&disks_, &nets_}) {
        auto it = std::find_if(list->begin(), list->end(), [&](const auto& d) { return d.first == gone.placed.id; });
        if (it != list->end()) {
            gone.device = std::move(it->second);
            list->erase(it);
        }
    }
    auto thread = std::find_if(ioThreads_.begin(), ioThreads_.end(),
                               [&](const auto& t) { return t.get() == gone.placed.ioThread; });
    if (gone.placed.ioThread && thread != ioThreads_.end()) {
        gone.ioThread = std::move(*thread);
        ioThreads_.erase(thread);
    }
    ejected_.push_back(std::move(gone));
    uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(ejectEvent_.get(), &one, sizeof one);
}

void VirtualMachine::tearDownEjected()
{
    uint64_t count;
    [[maybe_unused]] auto ignored = ::read(ejectEvent_.get(), &count, sizeof count);
    std::vector<Ejected> done;
    std::function<void(const std::string&)> removed;
    {
        std::lock_guard lock(devicesMutex_);
        done.swap(ejected_);
        removed = deviceRemoved_;
        for (const auto& e : done)
            removalsAsked_.erase(e.placed.id);
    }
    std::vector<std::string> ids;
    for (const auto& e : done)
        ids.push_back(e.placed.id);
    // The device leaves its loop and drops its vectors' routes, then its thread ends.
    done.clear();
    if (removed)
        for (const auto& id : ids)
            removed(id);
}

void VirtualMachine::consoleInput(std::span<const uint8_t> bytes)
{
    if (console_)
        console_->receive(bytes);
}

void VirtualMachine::writePlatformTables()
{
    auto desc = platformDesc(config_);
    for (const auto& blobs : {x86::buildAcpiTables(desc, x86::kRsdpAddr, x86::kAcpiTablesAddr),
                              x86::buildMpTable(desc, x86::kEbdaStart)})
        for (const auto& blob : blobs)
            memory_.write(blob.gpa, blob.bytes);
}

VmExit VirtualMachine::run()
{
    {
        std::lock_guard lock(controlMutex_);
        started_ = true;
        if (!paused_)
            vcpus_->run();
    }
    VmExit reason;
    {
        std::unique_lock lock(exitMutex_);
        stopped_.wait(lock, [this] { return exit_.has_value(); });
        reason = *exit_;
    }
    vcpus_->stop();
    drainCoalesced();  // what the guest wrote last (a power-off message) still goes out
    return reason;
}

void VirtualMachine::stop(VmExit reason)
{
    end(reason, {});
}

void VirtualMachine::end(VmExit reason, const std::string& error)
{
    {
        std::lock_guard lock(exitMutex_);
        if (!exit_) {
            exit_ = reason;
            error_ = error;
        }
    }
    stopped_.notify_all();
    vcpus_->requestStop();
}

bool VirtualMachine::ended()
{
    std::lock_guard lock(exitMutex_);
    return exit_.has_value();
}

void VirtualMachine::pause()
{
    std::lock_guard lock(controlMutex_);
    if (paused_ || ended())
        return;
    paused_ = true;
    vcpus_->pause();
    // A stopped vCPU answers Pause too: an ending VM is left to run() to take down.
    if (ended())
        return;
    pausedClock_ = vm_.getClock();
    pauseDevices();
}

void VirtualMachine::resume()
{
    std::lock_guard lock(controlMutex_);
    if (!paused_)
        return;
    resumeDevices();
    vm_.setClock(pausedClock_);
    paused_ = false;
    if (started_)
        vcpus_->run();
}

void VirtualMachine::setDirtyLogging(bool on)
{
    // RAM's regions are KVM's slots 0, 1, ... in order.
    uint32_t slot = 0;
    for (const auto& region : memory_.regions())
        vm_.setMemoryRegion(slot++, region.gpa, region.size, memory_.hostBase() + region.offset, false, on);
    dirtyLogging_ = on;
}

nlohmann::json VirtualMachine::dirtyLog()
{
    nlohmann::json regions = nlohmann::json::array();
    uint64_t total = 0;
    uint32_t slot = 0;
    for (const auto& region : memory_.regions()) {
        uint64_t dirty = 0;
        if (dirtyLogging_)
            for (uint64_t word : vm_.dirtyLog(slot, region.size))
                dirty += static_cast<uint64_t>(__builtin_popcountll(word));
        ++slot;
        total += dirty;
        regions.push_back({{"gpa", region.gpa}, {"pages", region.size / 4096}, {"dirty_pages", dirty}});
    }
    return {{"enabled", dirtyLogging_.load()}, {"dirty_pages", total}, {"regions", std::move(regions)}};
}

void VirtualMachine::openKvmStats(const std::vector<std::unique_ptr<kvm::Vcpu>>& vcpus)
{
    try {
        vmStats_.emplace(vm_.fd());
        for (const auto& vcpu : vcpus)
            vcpuStats_.emplace_back(vcpu->fd());
    } catch (const Error& e) {
        // A kernel before 5.14: vm.counters has no "kvm:" entries then.
        vmStats_.reset();
        vcpuStats_.clear();
        std::cerr << "mica-vmm: no KVM statistics: " << e.what() << std::endl;
    }
}

nlohmann::json VirtualMachine::counters()
{
    auto serial = serial_->counters();
    nlohmann::json out = {{"serial", {{"tx_bytes", serial.txBytes}, {"rx_bytes", serial.rxBytes}}}};
    if (vmStats_) {
        out["kvm:vm"] = vmStats_->read();
        for (size_t i = 0; i < vcpuStats_.size(); ++i)
            out["kvm:vcpu" + std::to_string(i)] = vcpuStats_[i].read();
    }
    // "disk:ID" and "net:ID": one flat level, as the API schema says.
    auto add = [&out](const char* kind, const auto& devices) {
        for (const auto& [id, device] : devices)
            for (const auto& [name, value] : device->counters())
                out[std::string(kind) + ":" + id][name] = value;
    };
    {
        std::lock_guard lock(devicesMutex_);
        add("disk", disks_);
        add("net", nets_);
    }
    // The exits that reached mica-vmm (KVM's statistics above count those it handled
    // itself too): by reason, and port I/O and MMIO by device range or unclaimed address.
    static const std::map<uint32_t, const char*> kReasonNames = {
        {KVM_EXIT_IO, "io"}, {KVM_EXIT_MMIO, "mmio"}, {KVM_EXIT_HLT, "hlt"}, {KVM_EXIT_INTR, "intr"},
        {KVM_EXIT_IRQ_WINDOW_OPEN, "irq_window_open"}, {KVM_EXIT_SHUTDOWN, "shutdown"},
        {KVM_EXIT_SYSTEM_EVENT, "system_event"}, {KVM_EXIT_FAIL_ENTRY, "fail_entry"},
        {KVM_EXIT_INTERNAL_ERROR, "internal_error"}};
    nlohmann::json reasons = nlohmann::json::object();
    for (size_t i = 0; i < exitReasons_.size(); ++i) {
        if (uint64_t n = exitReasons_[i].load(std::memory_order_relaxed)) {
            auto name = kReasonNames.find(static_cast<uint32_t>(i));
            reasons[name != kReasonNames.end() ? name->second : "reason " + std::to_string(i)] = n;
        }
    }
    out["exits:reason"] = reasons;
    out["exits:pio"] = pio_.accessCounts();
    out["exits:mmio"] = mmio_.accessCounts();
    return out;
}

nlohmann::json VirtualMachine::deviceTree() const
{
    std::lock_guard lock(devicesMutex_);
    nlohmann::json tree = nlohmann::json::object();
    for (const auto& placed : pciDevices_) {
        nlohmann::json resources = nlohmann::json::array();
        const auto& config = placed.device->config();
        for (unsigned bar = 0; bar < pci::kBarCount; ++bar)
            if (uint64_t size = config.bar(bar).size)
                resources.push_back({{"type", "mmio_bar"}, {"index", bar}, {"base", config.barAddress(bar)}, {"size", size}});
        resources.push_back({{"type", "msix"}, {"vectors", placed.device->msixVectors()}});
        tree[placed.id] = {{"id", placed.id}, {"type", placed.type}, {"pci_bdf", pciBdf(placed.slot)}, {"resources", resources}};
    }
    // Which engine serves each disk: "auto" in the config says what was asked, not what ran.
    for (const auto& [id, disk] : disks_)
        if (auto* blk = dynamic_cast<const virtio::VirtioBlock*>(disk.get()); blk && blk->ioEngine())
            tree[id]["io_engine"] = blk->ioEngine();
    return tree;
}

void VirtualMachine::setVcpuAffinity(unsigned vcpu, const std::vector<unsigned>& hostCpus)
{
    vcpus_->setAffinity(vcpu, hostCpus);
}

void VirtualMachine::injectNmi()
{
    vcpus_->injectNmi();
}

virtio::VirtioBlock& VirtualMachine::disk(const std::string& id)
{
    std::lock_guard lock(devicesMutex_);
    for (const auto& [diskId, device] : disks_)
        if (diskId == id)
            return static_cast<virtio::VirtioBlock&>(*device);
    throw Error(_("no disk '") + id + "'");
}

block::LiveDisk& VirtualMachine::liveDisk(const std::string& id)
{
    // createPciDevices() gave every disk a LiveDisk.
    return static_cast<block::LiveDisk&>(disk(id).image());
}

void VirtualMachine::handleExit(kvm::Vcpu& vcpu)
{
    // Queued writes happened before this exit: the device sees them first.
    drainCoalesced();
    kvm_run& run = vcpu.runState();
    exitReasons_[std::min<size_t>(run.exit_reason, exitReasons_.size() - 1)].fetch_add(1, std::memory_order_relaxed);
    switch (run.exit_reason) {
    case KVM_EXIT_IO: {
        uint8_t* data = reinterpret_cast<uint8_t*>(&run) + run.io.data_offset;
        for (uint32_t i = 0; i < run.io.count; ++i, data += run.io.size) {
            std::span<uint8_t> bytes(data, run.io.size);
            if (run.io.direction == KVM_EXIT_IO_OUT)
                pio_.write(run.io.port, bytes);
            else
                pio_.read(run.io.port, bytes);
        }
        break;
    }
    case KVM_EXIT_MMIO: {
        std::span<uint8_t> bytes(run.mmio.data, std::min<uint32_t>(run.mmio.len, sizeof run.mmio.data));
        if (run.mmio.is_write)
            mmio_.write(run.mmio.phys_addr, bytes);
        else
            mmio_.read(run.mmio.phys_addr, bytes);
        break;
    }
    case KVM_EXIT_SHUTDOWN:  // triple fault: a PC resets
        // Said in the log: unlike a reset the guest asks for, it is a guest (or host) fault
        // that would otherwise look like a silent reboot.
        std::cerr << "mica-vmm: vCPU " << vcpu.id() << ": triple fault, the guest resets" << std::endl;
        stop(VmExit::Reset);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        stop(run.system_event.type == KVM_SYSTEM_EVENT_RESET ? VmExit::Reset : VmExit::PowerOff);
        break;
    case KVM_EXIT_HLT:
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        break;
    case KVM_EXIT_FAIL_ENTRY:
        throw Error(_("KVM could not enter the guest (hardware entry failure reason ") +
                    std::to_string(run.fail_entry.hardware_entry_failure_reason) + ")");
    case KVM_EXIT_INTERNAL_ERROR:
        throw Error(_("KVM internal error, suberror ") + std::to_string(run.internal.suberror));
    default:
        throw Error(_("unexpected KVM exit reason ") + std::to_string(run.exit_reason));
    }
}

}  // namespace mica
