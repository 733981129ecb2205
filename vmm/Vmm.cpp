#include "Vmm.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <utility>

#include "Seccomp.h"
#include "SnapshotDir.h"
#include "ValidateConfig.h"
#include "VmConfigJson.h"
#include "i18n.h"

namespace mica {

namespace {
constexpr int kExitPowerOff = 0, kExitError = 1, kExitRebooted = 3;

// Every NIC without a MAC gets the default one of its place (VirtualMachine's) written
// into the configuration, so it stays the same whatever NICs come or go before it.
void pinDefaultMacs(VmConfig& config)
{
    for (size_t i = 0; i < config.nets.size(); ++i)
        if (config.nets[i].mac.empty()) {
            char mac[18];
            std::snprintf(mac, sizeof mac, "52:54:00:12:34:%02x", static_cast<unsigned>((0x56 + i) & 0xff));
            config.nets[i].mac = mac;
        }
}
}  // namespace

const char* vmStateName(VmState state)
{
    switch (state) {
    case VmState::NotCreated: return "NotCreated";
    case VmState::Created: return "Created";
    case VmState::Running: return "Running";
    case VmState::Paused: return "Paused";
    case VmState::Shutdown: return "Shutdown";
    }
    return "?";
}

Vmm::Vmm(EventLoop& loop, EventMonitor& events, CommandLine::OnReboot onReboot, bool statsOnExit)
    : loop_(loop), events_(events), onReboot_(onReboot), statsOnExit_(statsOnExit)
{
    events_.emit("starting");
}

Vmm::~Vmm()
{
    {
        std::lock_guard lock(mutex_);
        if (current_)
            current_->stop(VmExit::Stopped);
    }
    joinVmThread();
}

VirtualMachine& Vmm::running()
{
    if (!current_ || (state_ != VmState::Running && state_ != VmState::Paused))
        throw ApiError(409, _("the VM is not running"));
    return *current_;
}

void Vmm::create(VmConfig config)
{
    // Backends this replaces die after the lock is released (declared before it): their
    // destructors wait for a running input callback, and those take the lock.
    std::unique_ptr<CharBackend> oldSerial, oldConsole;
    std::lock_guard lock(mutex_);
    createLocked(std::move(config), oldSerial, oldConsole);
}

void Vmm::createLocked(VmConfig config, std::unique_ptr<CharBackend>& oldSerial, std::unique_ptr<CharBackend>& oldConsole)
{
    if (state_ != VmState::NotCreated)
        throw ApiError(409, _("a VM already exists: delete it first"));
    // The console backend is opened now, so a bad path fails vm.create, not vm.boot.
    auto serial = std::make_unique<CharBackend>(config.serial, "serial", config.handedFile(config.serial.path));
    serial->attach(
        loop_,
        [this](std::span<const uint8_t> bytes) {
            std::lock_guard lock(mutex_);
            if (current_)
                current_->serial().receive(bytes);
        },
        [this] {  // output that waited for a slow reader has gone: the UART may send again
            std::lock_guard lock(mutex_);
            if (current_)
                current_->serial().transmitterReady();
        });
    oldSerial = std::exchange(serial_, std::move(serial));
    // The virtio console's backend, like the serial port's, outlives each boot.
    oldConsole = std::move(console_);
    if (config.console.enabled) {
        auto console = std::make_unique<CharBackend>(config.console.backend, "console",
                                                     config.handedFile(config.console.backend.path));
        console->attach(loop_, [this](std::span<const uint8_t> bytes) {
            std::lock_guard lock(mutex_);
            if (current_)
                current_->consoleInput(bytes);
        });
        console_ = std::move(console);
    }
    config_ = std::move(config);
    state_ = VmState::Created;
}

void Vmm::boot()
{
    std::unique_lock lock(mutex_);
    if (state_ != VmState::Created && state_ != VmState::Shutdown)
        throw ApiError(409, state_ == VmState::NotCreated ? _("no VM to boot: create one first")
                                                           : _("the VM is already running"));
    joinVmThread();  // the previous boot's thread has finished: its state is Shutdown
    // Built here so a kernel that cannot be loaded fails the request itself.
    if (!kvm_)
        kvm_.emplace(kvm::kDevice, config_->handedFile(kvm::kDevice));
    auto vm = std::make_unique<VirtualMachine>(*config_, *kvm_, serial_.get(), &loop_, console_.get());
    watchRemovals(*vm);
    events_.emit("booting");
    state_ = VmState::Running;
    startVmThread(std::move(vm), "booted");
}

void Vmm::startVmThread(std::unique_ptr<VirtualMachine> vm, const char* startEvent)
{
    current_ = vm.get();
    std::lock_guard joinLock(joinMutex_);
    vmThread_ = std::thread([this, startEvent, vm = std::move(vm)]() mutable { runLoop(std::move(vm), startEvent); });
}

void Vmm::snapshot(const std::string& destinationUrl, UniqueFd handedDirectory)
{
    std::lock_guard lock(mutex_);
    if (state_ != VmState::Paused)
        throw ApiError(409, _("the VM must be paused to snapshot it"));
    snapshot::Directory dir;
    try {
        dir = handedDirectory ? snapshot::Directory{std::move(handedDirectory), snapshot::directoryFromUrl(destinationUrl)}
                              : snapshot::openDirectory(destinationUrl, true);
    } catch (const Error& e) {
        throw ApiError(400, e.what());
    }
    // A cancel asked for before this snapshot began was for an earlier one.
    snapshotCancel_ = false;
    // state.json last: a directory that has one holds a whole snapshot.
    ::unlinkat(dir.fd.get(), snapshot::kStateFile, 0);
    snapshot::writeJson(dir, snapshot::kConfigFile, vmConfigToJson(*config_));
    auto memory = snapshot::createMemoryFile(dir);
    uint64_t written = 0;
    try {
        written = current_->saveMemory(memory.get(), &snapshotCancel_);
    } catch (const Error& e) {
        if (!snapshotCancel_)
            throw;
        throw ApiError(409, _("the snapshot was cancelled"));
    }
    snapshot::writeJson(dir, snapshot::kStateFile, current_->saveState());
    events_.emit("snapshotted", {{"destination_url", destinationUrl}, {"memory_bytes_written", written}});
}

void Vmm::restore(const std::string& sourceUrl, std::optional<CharBackendConfig> serial,
                  snapshot::MemoryRestoreMode memoryMode, std::vector<UniqueFd> fds, std::optional<MemoryInFd> memoryIn,
                  const std::optional<nlohmann::json>& givenConfig)
{
    std::unique_ptr<CharBackend> oldSerial, oldConsole;  // as in create(): die unlocked
    std::lock_guard lock(mutex_);
    if (state_ != VmState::NotCreated)
        throw ApiError(409, _("a VM already exists: delete it first"));
    VmConfig config;
    nlohmann::json state;
    UniqueFd memory;
    try {
        snapshot::Directory dir = snapshot::openDirectory(sourceUrl, false);
        state = snapshot::readJson(dir, snapshot::kStateFile);
        snapshot::checkFormat(state);
        if (memoryIn) {
            // Taken out first: the config closes every handed fd it does not name.
            if (memoryIn->index >= fds.size() || !fds[memoryIn->index])
                throw Error("memory_fd: " + std::to_string(memoryIn->index) + _(" is not one of the ") +
                            std::to_string(fds.size()) + _(" fds that came with the request"));
            memory = std::move(fds[memoryIn->index]);
        }
        config = vmConfigFromJson(givenConfig ? *givenConfig : snapshot::readJson(dir, snapshot::kConfigFile), std::move(fds));
        if (!memoryIn)
            memory = snapshot::openMemoryFile(dir);
    } catch (const Error& e) {  // StateError, ConfigError, a bad URL: the request's fault
        throw ApiError(400, std::string(_("cannot restore: ")) + e.what());
    }
    if (serial) {
        config.serial = *serial;
        try {
            validateConfig(config);
        } catch (const ConfigError& e) {
            throw ApiError(400, std::string(_("cannot restore: ")) + e.what());
        }
    }
    createLocked(std::move(config), oldSerial, oldConsole);
    try {
        if (!kvm_)
            kvm_.emplace(kvm::kDevice, config_->handedFile(kvm::kDevice));
        RestoreSource source{state, memory.get(), memoryMode, memoryIn ? memoryIn->offset : 0};
        auto vm = std::make_unique<VirtualMachine>(*config_, *kvm_, serial_.get(), &loop_, console_.get(), &source);
        watchRemovals(*vm);
        state_ = VmState::Paused;
        startVmThread(std::move(vm), "restored");
    } catch (const std::exception& e) {
        // Nothing half-made stays: the VMM is back to having no VM.
        oldSerial = std::move(serial_);
        oldConsole = std::move(console_);
        config_.reset();
        state_ = VmState::NotCreated;
        // The snapshot does not fit (StateError) or names what cannot be opened (a disk
        // image gone, a socket path taken): either way the request cannot be served.
        throw ApiError(400, std::string(_("cannot restore: ")) + e.what());
    }
    events_.emit("restored", {{"source_url", sourceUrl}});
}

void Vmm::runLoop(std::unique_ptr<VirtualMachine> vm, const char* startEvent)
{
    pthread_setname_np(pthread_self(), "vm");
    try {
        applySeccomp(ThreadRole::Vm);
        seccompSelfTestPoint(ThreadRole::Vm);
    } catch (const std::exception& e) {
        vm->stop(VmExit::Error);
        std::cerr << "mica-vmm: " << e.what() << std::endl;
    }
    for (;;) {
        events_.emit(startEvent);
        startEvent = "booted";  // after a reboot
        VmExit exit = vm->run();
        std::string error = vm->error();
        if (statsOnExit_)
            std::cerr << "mica-vmm: counters: " << vm->counters().dump() << std::endl;
        {
            std::lock_guard lock(mutex_);
            current_ = nullptr;
        }
        vm.reset();
        if (exit == VmExit::Reset) {
            events_.emit("reboot");
            // A reset lets go of every device: those the guest was asked to release are
            // gone from the next boot.
            std::vector<std::string> released;
            std::vector<UniqueFd> timers;
            {
                std::lock_guard lock(mutex_);
                for (const auto& [id, timer] : removals_)
                    released.push_back(id);
                for (const auto& id : released)
                    dropFromConfig(id);
                timers = endRemovals(std::nullopt);
            }
            for (auto& timer : timers)
                loop_.removeAndWait(timer.get());
            for (const auto& id : released)
                events_.emit("device-removed", {{"id", id}});
            if (onReboot_ == CommandLine::OnReboot::Restart) {
                try {
                    vm = std::make_unique<VirtualMachine>(*config_, *kvm_, serial_.get(), &loop_, console_.get());
                    watchRemovals(*vm);
                } catch (const std::exception& e) {
                    error = e.what();
                    exit = VmExit::Error;
                }
            }
            if (vm) {
                std::lock_guard lock(mutex_);
                if (!exitStatus_) {
                    current_ = vm.get();
                    state_ = VmState::Running;
                    continue;
                }
                vm.reset();
                exit = VmExit::Stopped;
            }
        }
        switch (exit) {
        case VmExit::PowerOff:
            events_.emit("shutdown");
            requestExit(kExitPowerOff);
            break;
        case VmExit::Reset:  // --on-reboot exit
            requestExit(kExitRebooted);
            break;
        case VmExit::Stopped:
            events_.emit("shutdown");
            break;
        case VmExit::Error:
            events_.emit("vmm-error", {{"error", error}});
            std::cerr << "mica-vmm: " << error << std::endl;
            requestExit(kExitError);
            break;
        }
        // Last: once the state says Shutdown, boot() may join this thread.
        std::lock_guard lock(mutex_);
        state_ = VmState::Shutdown;
        return;
    }
}

void Vmm::setVcpuAffinity(unsigned vcpu, std::vector<unsigned> hostCpus)
{
    std::lock_guard lock(mutex_);
    if (!config_)
        throw ApiError(409, _("no VM: create one first"));
    VmConfig changed = *config_;
    changed.cpus.affinity[vcpu] = std::move(hostCpus);
    try {
        validateConfig(changed);
    } catch (const ConfigError& e) {
        throw ApiError(400, e.what());
    }
    if (current_ && (state_ == VmState::Running || state_ == VmState::Paused)) {
        try {
            current_->setVcpuAffinity(vcpu, changed.cpus.affinity[vcpu]);
        } catch (const Error& e) {
            throw ApiError(400, e.what());
        }
    }
    config_ = std::move(changed);
}

void Vmm::setDiskIoLimits(const std::string& id, const IoLimits& limits)
{
    std::lock_guard lock(mutex_);
    if (!config_)
        throw ApiError(409, _("no VM: create one first"));
    VmConfig changed = *config_;
    auto disk = std::find_if(changed.disks.begin(), changed.disks.end(), [&](const DiskConfig& d) { return d.id == id; });
    if (disk == changed.disks.end())
        throw ApiError(404, _("no disk '") + id + "'");
    disk->iotune = limits;
    try {
        validateConfig(changed);
    } catch (const ConfigError& e) {
        throw ApiError(400, e.what());
    }
    if (current_ && (state_ == VmState::Running || state_ == VmState::Paused))
        current_->disk(id).setIoLimits(limits);
    config_ = std::move(changed);
}

nlohmann::json Vmm::addDisk(DiskConfig disk, std::map<std::string, UniqueFd> files)
{
    std::lock_guard lock(mutex_);
    if (!config_)
        throw ApiError(409, _("no VM: create one first"));
    VmConfig changed = *config_;
    for (auto& [path, file] : files) {
        changed.handedFiles[path] = static_cast<unsigned>(changed.handedFds.size());
        changed.handedFds.push_back(std::make_shared<const UniqueFd>(std::move(file)));
    }
    changed.disks.push_back(std::move(disk));
    return addDevice(std::move(changed));
}

nlohmann::json Vmm::addNet(NetConfig net, std::vector<UniqueFd> fds)
{
    std::lock_guard lock(mutex_);
    if (!config_)
        throw ApiError(409, _("no VM: create one first"));
    VmConfig changed = *config_;
    // The request's fds join the configuration's; the NIC's indexes follow them there.
    for (unsigned& index : net.fds) {
        if (index >= fds.size() || !fds[index])
            throw ApiError(400, "fds: " + std::to_string(index) + _(" is not one of the ") + std::to_string(fds.size()) +
                                    _(" fds that came with the request, or is named twice"));
        unsigned at = static_cast<unsigned>(changed.handedFds.size());
        changed.handedFds.push_back(std::make_shared<const UniqueFd>(std::move(fds[index])));
        index = at;
    }
    changed.nets.push_back(std::move(net));
    return addDevice(std::move(changed));
}

// The device is the last disk or NIC of `changed`, maybe without an id or slot yet:
// validateConfig() gives it both (and refuses an id or slot in use).
nlohmann::json Vmm::addDevice(VmConfig changed)
{
    bool isDisk = changed.disks.size() > config_->disks.size();
    const std::string& wanted = isDisk ? changed.disks.back().id : changed.nets.back().id;
    if (!wanted.empty()) {
        std::vector<std::string> ids{config_->rng.id, config_->console.id, config_->vsock.id, config_->balloon.id};
        for (const auto& d : config_->disks)
            ids.push_back(d.id);
        for (const auto& n : config_->nets)
            ids.push_back(n.id);
        if (std::find(ids.begin(), ids.end(), wanted) != ids.end())
            throw ApiError(409, _("a device '") + wanted + _("' exists already"));
    }
    try {
        validateConfig(changed);
    } catch (const ConfigError& e) {
        throw ApiError(400, e.what());
    }
    pinDefaultMacs(changed);
    std::string id = isDisk ? changed.disks.back().id : changed.nets.back().id;
    nlohmann::json answer = nullptr;
    if (current_ && (state_ == VmState::Running || state_ == VmState::Paused)) {
        auto config = std::make_shared<const VmConfig>(changed);
        std::string bdf;
        try {
            bdf = current_->hotAdd(config, id);
        } catch (const Error& e) {
            throw ApiError(400, e.what());
        }
        answer = {{"id", id}, {"bdf", bdf}};
        events_.emit("device-added", {{"id", id}, {"bdf", bdf}});
    }
    config_ = std::move(changed);
    return answer;
}

void Vmm::removeDevice(const std::string& id, uint64_t timeoutMs)
{
    std::lock_guard lock(mutex_);
    if (!config_)
        throw ApiError(409, _("no VM: create one first"));
    bool known = std::any_of(config_->disks.begin(), config_->disks.end(), [&](const DiskConfig& d) { return d.id == id; }) ||
                 std::any_of(config_->nets.begin(), config_->nets.end(), [&](const NetConfig& n) { return n.id == id; });
    if (!known)
        throw ApiError(404, _("no disk or NIC '") + id + "'");
    if (!current_ || (state_ != VmState::Running && state_ != VmState::Paused)) {
        dropFromConfig(id);
        return;
    }
    if (removals_.count(id))
        throw ApiError(409, _("the guest was asked to release '") + id + _("' already"));
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer)
        throw systemError("timerfd_create");
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(timeoutMs / 1000);
    when.it_value.tv_nsec = static_cast<long>(timeoutMs % 1000) * 1'000'000;
    ::timerfd_settime(timer.get(), 0, &when, nullptr);
    try {
        current_->requestRemoval(id);
    } catch (const Error& e) {
        throw ApiError(404, e.what());
    }
    loop_.add(timer.get(), [this, id] { removalTimedOut(id); });
    removals_[id] = std::move(timer);
}

std::vector<UniqueFd> Vmm::endRemovals(const std::optional<std::string>& id)
{
    std::vector<UniqueFd> timers;
    for (auto it = removals_.begin(); it != removals_.end();) {
        if (id && it->first != *id) {
            ++it;
            continue;
        }
        timers.push_back(std::move(it->second));
        it = removals_.erase(it);
    }
    return timers;
}

// The guest did not eject in time: the request is withdrawn (a late eject still removes
// the device, as one the guest did on its own would).
void Vmm::removalTimedOut(const std::string& id)
{
    std::vector<UniqueFd> timers;
    {
        std::lock_guard lock(mutex_);
        if (!removals_.count(id))
            return;
        timers = endRemovals(id);
        if (current_)
            current_->cancelRemoval(id);
    }
    for (auto& timer : timers)
        loop_.remove(timer.get());   // on the loop's own thread: it is this callback
    events_.emit("device-removal-failed", {{"id", id}, {"reason", _("the guest did not release the device in time")}});
}

void Vmm::dropFromConfig(const std::string& id)
{
    pinDefaultMacs(*config_);   // before the NIC goes: those after it keep their MACs
    // What only this device held (its image's handed file, its TAP queues) closes with it;
    // the files of its image's backing chain may be other disks' too, and stay.
    std::vector<unsigned> held;
    for (const auto& d : config_->disks)
        if (d.id == id) {
            auto file = config_->handedFiles.find(d.path);
            bool shared = std::count_if(config_->disks.begin(), config_->disks.end(),
                                        [&](const DiskConfig& other) { return other.path == d.path; }) > 1;
            if (file != config_->handedFiles.end() && !shared) {
                held.push_back(file->second);
                config_->handedFiles.erase(file);
            }
        }
    for (const auto& n : config_->nets)
        if (n.id == id)
            held.insert(held.end(), n.fds.begin(), n.fds.end());
    std::erase_if(config_->disks, [&](const DiskConfig& d) { return d.id == id; });
    std::erase_if(config_->nets, [&](const NetConfig& n) { return n.id == id; });
    for (unsigned index : held)
        if (index < config_->handedFds.size())
            config_->handedFds[index].reset();   // indexes stay: others name theirs by them
}

void Vmm::watchRemovals(VirtualMachine& vm)
{
    vm.onDeviceRemoved([this](const std::string& id) { deviceRemoved(id); });
}

void Vmm::deviceRemoved(const std::string& id)
{
    std::vector<UniqueFd> timers;
    {
        std::lock_guard lock(mutex_);
        timers = endRemovals(id);
        if (config_)
            dropFromConfig(id);
    }
    for (auto& timer : timers)
        loop_.remove(timer.get());   // this runs on the loop's thread
    events_.emit("device-removed", {{"id", id}});
}

void Vmm::resizeDisk(const std::string& id, uint64_t bytes)
{
    std::lock_guard lock(mutex_);
    if (!current_ || (state_ != VmState::Running && state_ != VmState::Paused))
        throw ApiError(409, _("the VM is not running"));
    try {
        current_->disk(id).resize(bytes);
    } catch (const Error& e) {
        throw ApiError(400, e.what());
    }
}

void Vmm::resize(const Resize& to)
{
    std::lock_guard lock(mutex_);
    if (!config_)
        throw ApiError(409, _("no VM: create one first"));
    // vCPU and memory hotplug are not there yet: asking for what the VM has is no change.
    if (to.vcpus && *to.vcpus != config_->cpus.boot)
        throw ApiError(400, _("desired_vcpus: mica-vmm cannot change a VM's number of vCPUs (it has ") +
                                std::to_string(config_->cpus.boot) + ")");
    if (to.ram && *to.ram != config_->memory.size)
        throw ApiError(400, _("desired_ram: mica-vmm cannot change a VM's memory size (it has ") +
                                std::to_string(config_->memory.size) + _(" bytes)"));
    if (!to.balloon)
        return;
    if (!config_->balloon.enabled)
        throw ApiError(400, _("desired_balloon: the VM has no balloon"));
    if (*to.balloon > config_->memory.size)
        throw ApiError(400, _("desired_balloon: larger than the VM's memory (") + std::to_string(config_->memory.size) +
                                _(" bytes)"));
    if (current_ && current_->balloon() && (state_ == VmState::Running || state_ == VmState::Paused))
        current_->balloon()->setTarget(*to.balloon);
    config_->balloon.size = *to.balloon;
}

void Vmm::injectNmi()
{
    std::lock_guard lock(mutex_);
    if (!current_ || (state_ != VmState::Running && state_ != VmState::Paused))
        throw ApiError(409, _("the VM is not running"));
    try {
        current_->injectNmi();
    } catch (const Error& e) {
        throw ApiError(409, e.what());
    }
}

void Vmm::pause()
{
    std::lock_guard lock(mutex_);
    if (state_ == VmState::Paused)
        throw ApiError(409, _("the VM is already paused"));
    running().pause();
    state_ = VmState::Paused;
    events_.emit("paused");
}

void Vmm::resume()
{
    std::lock_guard lock(mutex_);
    if (state_ != VmState::Paused)
        throw ApiError(409, _("the VM is not paused"));
    running().resume();
    state_ = VmState::Running;
    events_.emit("resumed");
}

void Vmm::shutdown()
{
    {
        std::lock_guard lock(mutex_);
        running().stop(VmExit::Stopped);
    }
    joinVmThread();
}

void Vmm::reboot()
{
    std::lock_guard lock(mutex_);
    running().stop(VmExit::Reset);
}

void Vmm::powerButton()
{
    std::lock_guard lock(mutex_);
    if (state_ == VmState::Paused)
        throw ApiError(409, _("the VM is paused: resume it first"));
    running().pressPowerButton();
    events_.emit("power-button");
}

void Vmm::remove()
{
    std::unique_ptr<CharBackend> oldSerial, oldConsole;  // as in create(): die unlocked
    std::lock_guard lock(mutex_);
    if (state_ == VmState::Running || state_ == VmState::Paused)
        throw ApiError(409, _("the VM is running: shut it down first"));
    if (state_ == VmState::NotCreated)
        throw ApiError(409, _("there is no VM to delete"));
    joinVmThread();
    oldSerial = std::move(serial_);
    oldConsole = std::move(console_);
    config_.reset();
    state_ = VmState::NotCreated;
    events_.emit("deleted");
}

nlohmann::json Vmm::info()
{
    std::lock_guard lock(mutex_);
    nlohmann::json out = {{"state", vmStateName(state_)}};
    if (config_)
        out["config"] = vmConfigToJson(*config_);
    if (current_)
        out["device_tree"] = current_->deviceTree();
    if (serial_ && !serial_->path().empty())
        out["serial_path"] = serial_->path();
    return out;
}

nlohmann::json Vmm::counters()
{
    std::lock_guard lock(mutex_);
    return running().counters();
}

void Vmm::setDirtyLogging(bool on)
{
    std::lock_guard lock(mutex_);
    running().setDirtyLogging(on);
}

nlohmann::json Vmm::dirtyLog()
{
    std::lock_guard lock(mutex_);
    return running().dirtyLog();
}

void Vmm::requestExit(int status)
{
    std::lock_guard lock(mutex_);
    if (!exitStatus_)
        exitStatus_ = status;
    exitRequested_.notify_all();
}

int Vmm::waitForExit()
{
    std::unique_lock lock(mutex_);
    exitRequested_.wait(lock, [this] { return exitStatus_.has_value(); });
    if (current_)
        current_->stop(VmExit::Stopped);
    lock.unlock();
    joinVmThread();
    return *exitStatus_;
}

void Vmm::joinVmThread()
{
    std::lock_guard lock(joinMutex_);
    if (vmThread_.joinable() && vmThread_.get_id() != std::this_thread::get_id())
        vmThread_.join();
}

}  // namespace mica
