#include "VirtioPciDevice.h"

#include <sys/eventfd.h>

#include <iostream>

#include "Error.h"
#include "StateJson.h"
#include "VirtioSpec.h"
#include "Vm.h"
#include "i18n.h"

namespace mica::virtio {

namespace {

constexpr uint8_t kCapVendor = 0x09, kCapMsix = 0x11;
constexpr uint8_t kCfgCommon = 1, kCfgNotify = 2, kCfgIsr = 3, kCfgDevice = 4;

std::vector<uint8_t> virtioCap(uint8_t type, uint64_t offset, uint32_t length, std::optional<uint32_t> multiplier = {})
{
    uint8_t capLen = multiplier ? 20 : 16;
    std::vector<uint8_t> body{capLen, type, 0 /*bar*/, 0 /*id*/, 0, 0};
    for (uint32_t v : {static_cast<uint32_t>(offset), length})
        for (int i = 0; i < 4; ++i)
            body.push_back(static_cast<uint8_t>(v >> (8 * i)));
    if (multiplier)
        for (int i = 0; i < 4; ++i)
            body.push_back(static_cast<uint8_t>(*multiplier >> (8 * i)));
    return body;
}

uint64_t little(std::span<const uint8_t> data)
{
    uint64_t v = 0;
    for (size_t i = 0; i < data.size() && i < 8; ++i)
        v |= uint64_t{data[i]} << (8 * i);
    return v;
}

void putLittle(std::span<uint8_t> data, uint64_t v)
{
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : 0;
}

pci::PciIds idsFor(const VirtioDevice& device)
{
    return pci::PciIds{.vendor = 0x1af4,
                       .device = static_cast<uint16_t>(0x1040 + device.deviceType()),
                       .classCode = device.pciClass(),
                       .revision = 1,
                       .subsystemVendor = 0x1af4,
                       .subsystem = 0x40};
}

// Used without KVM (unit tests): interrupts go nowhere.
class NullSink : public pci::MsiSink {
public:
    void update(uint16_t, const pci::MsiMessage&, bool) override {}
    void fire(uint16_t) override {}
};

}  // namespace

VirtioPciDevice::VirtioPciDevice(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, kvm::Vm* vm,
                                 pci::GsiRouter* router, EventLoop* loop, std::unique_ptr<pci::MsiSink> sink)
    : PciDevice(idsFor(*device)), device_(std::move(device)), memory_(memory), vm_(vm), loop_(loop),
      queues_(device_->queueCount())
{
    auto vectors = static_cast<uint16_t>(queues_.size() + 1);
    if (sink)
        sink_ = std::move(sink);
    else if (router)
        sink_ = std::make_unique<pci::KvmMsiSink>(*router, vectors);
    else
        sink_ = std::make_unique<NullSink>();
    msix_ = std::make_unique<pci::MsixTable>(vectors, *sink_);

    config_.addBar(0, pci::BarInfo{.size = kBarSize});
    config_.addCapability(kCapVendor, virtioCap(kCfgCommon, kCommonOffset, 0x38));
    config_.addCapability(kCapVendor, virtioCap(kCfgIsr, kIsrOffset, 4));
    config_.addCapability(kCapVendor, virtioCap(kCfgDevice, kDeviceOffset, 0x1000));
    config_.addCapability(kCapVendor, virtioCap(kCfgNotify, kNotifyOffset,
                                                static_cast<uint32_t>(kNotifyMultiplier * queues_.size()),
                                                kNotifyMultiplier));
    auto msixBody = msix_->capabilityBody(0, kMsixTableOffset, kMsixPbaOffset);
    auto msixWritable = pci::MsixTable::capabilityWritable();
    msixCap_ = config_.addCapability(kCapMsix, msixBody, msixWritable);

    for (uint16_t q = 0; q < queues_.size(); ++q) {
        queues_[q].size = device_->queueMaxSize();
        queues_[q].doorbell.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!queues_[q].doorbell)
            throw systemError(device_->name() + ": eventfd");
    }
    watchDoorbells();
}

void VirtioPciDevice::watchDoorbells()
{
    if (!loop_)
        return;
    for (uint16_t q = 0; q < queues_.size(); ++q) {
        int fd = queues_[q].doorbell.get();
        loop_->add(fd, [this, fd, q] {
            uint64_t count;
            if (::read(fd, &count, sizeof count) == sizeof count)
                kick(q);
        });
    }
}

// Serves whatever the driver queued while nobody listened (before DRIVER_OK, during a
// pause, in a restored VM).
void VirtioPciDevice::ringDoorbells()
{
    for (auto& q : queues_) {
        uint64_t one = 1;
        if (q.ring)
            [[maybe_unused]] auto ignored = ::write(q.doorbell.get(), &one, sizeof one);
    }
}

void VirtioPciDevice::pause()
{
    if (paused_)
        return;
    paused_ = true;
    // A doorbell the guest rang before its vCPU parked stays counted in its eventfd.
    if (loop_)
        for (auto& q : queues_)
            loop_->removeAndWait(q.doorbell.get());
    device_->pauseIo();
}

void VirtioPciDevice::resume()
{
    if (!paused_)
        return;
    paused_ = false;
    watchDoorbells();
    device_->resumeIo();
    std::lock_guard lock(device_->mutex());
    ringDoorbells();
}

namespace {
struct QueueState {
    uint16_t size, vector;
    bool enabled;
    uint64_t desc, avail, used;
    // Where the device was in the rings; absent while the queue had no ring.
    std::optional<std::array<uint16_t, 3>> position;
    bool signalled_valid = false;
};
void to_json(nlohmann::json& j, const QueueState& q)
{
    j = {{"size", q.size}, {"vector", q.vector}, {"enabled", q.enabled}, {"desc", q.desc}, {"avail", q.avail},
         {"used", q.used}, {"position", q.position ? nlohmann::json(*q.position) : nlohmann::json()},
         {"signalled_valid", q.signalled_valid}};
}
void from_json(const nlohmann::json& j, QueueState& q)
{
    j.at("size").get_to(q.size), j.at("vector").get_to(q.vector), j.at("enabled").get_to(q.enabled);
    j.at("desc").get_to(q.desc), j.at("avail").get_to(q.avail), j.at("used").get_to(q.used);
    if (!j.at("position").is_null())
        q.position = j.at("position").get<std::array<uint16_t, 3>>();
    j.at("signalled_valid").get_to(q.signalled_valid);
}
struct TransportState {
    uint32_t device_feature_select, driver_feature_select;
    uint64_t driver_features;
    uint16_t queue_select, config_vector;
    uint8_t status, isr;
    std::vector<QueueState> queues;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TransportState, device_feature_select, driver_feature_select, driver_features,
                                   queue_select, config_vector, status, isr, queues)
}  // namespace

nlohmann::json VirtioPciDevice::save()
{
    std::lock_guard lock(device_->mutex());
    TransportState t{deviceFeatureSelect_, driverFeatureSelect_, driverFeatures_, queueSelect_, configVector_, status_, isr_, {}};
    for (const auto& q : queues_) {
        QueueState s{q.size, q.vector, q.enabled, q.desc, q.avail, q.used, std::nullopt, false};
        if (q.ring) {
            auto p = q.ring->position();
            s.position = std::array<uint16_t, 3>{p.lastAvail, p.usedIdx, p.signalledUsed};
            s.signalled_valid = p.signalledValid;
        }
        t.queues.push_back(s);
    }
    return {{"config", config_.save()}, {"msix", msix_->save()}, {"transport", t}, {"device", device_->save()}};
}

// Onto a device built from the same configuration, before the VM first runs; the
// device stays paused until resume().
void VirtioPciDevice::restore(const nlohmann::json& state)
{
    std::string what = device_->name();
    auto t = readState<TransportState>(stateField(state, "transport", what), what);
    if (t.queues.size() != queues_.size())
        throw StateError(what + ": " + std::to_string(t.queues.size()) + " queues saved, the device has " +
                         std::to_string(queues_.size()));
    try {
        config_.restore(stateField(state, "config", what));
        msix_->restore(stateField(state, "msix", what));
    } catch (const StateError& e) {
        throw StateError(what + ": " + e.what());
    }
    pause();
    std::lock_guard lock(device_->mutex());
    deviceFeatureSelect_ = t.device_feature_select, driverFeatureSelect_ = t.driver_feature_select;
    driverFeatures_ = t.driver_features, queueSelect_ = t.queue_select, configVector_ = t.config_vector;
    status_ = t.status, isr_ = t.isr;
    for (size_t i = 0; i < queues_.size(); ++i) {
        const auto& s = t.queues[i];
        auto& q = queues_[i];
        q.size = s.size, q.vector = s.vector, q.enabled = s.enabled, q.desc = s.desc, q.avail = s.avail, q.used = s.used;
    }
    bool live = (status_ & kStatusDriverOk) && (status_ & kStatusFeaturesOk) && !(status_ & kStatusNeedsReset);
    if (!live)
        return;
    try {
        for (size_t i = 0; i < queues_.size(); ++i) {
            auto& q = queues_[i];
            if (!q.enabled)
                continue;
            q.ring = std::make_unique<VirtQueue>(memory_, QueueLayout{q.size, q.desc, q.avail, q.used},
                                                 driverFeatures_ & bit(kFeatureEventIdx),
                                                 driverFeatures_ & bit(kFeatureIndirectDesc));
            if (const auto& p = t.queues[i].position)
                q.ring->setPosition({(*p)[0], (*p)[1], (*p)[2], t.queues[i].signalled_valid});
        }
    } catch (const VirtQueueError& e) {
        throw StateError(what + ": " + e.what());
    }
    device_->activate(*this);
    device_->restore(stateField(state, "device", what));
}

VirtioPciDevice::~VirtioPciDevice()
{
    if (mappedAt_)
        barUnmapped(0, *mappedAt_);
    if (loop_ && !paused_)
        for (auto& q : queues_)
            loop_->removeAndWait(q.doorbell.get());
    device_->quiesce();  // before queues_ go: the device's own callbacks use them
}

void VirtioPciDevice::configWrite(uint16_t offset, std::span<const uint8_t> data)
{
    PciDevice::configWrite(offset, data);
    uint16_t control = config_.read16(static_cast<uint16_t>(msixCap_ + 2));
    msix_->setControl(control & 0x8000, control & 0x4000);
}

void VirtioPciDevice::barMapped(unsigned, uint64_t address)
{
    mappedAt_ = address;
    if (!vm_)
        return;
    for (size_t q = 0; q < queues_.size(); ++q)
        vm_->addIoEventFd(queues_[q].doorbell.get(), address + kNotifyOffset + kNotifyMultiplier * q, 0, false);
}

void VirtioPciDevice::barUnmapped(unsigned, uint64_t address)
{
    mappedAt_.reset();
    if (!vm_)
        return;
    for (size_t q = 0; q < queues_.size(); ++q) {
        try {
            vm_->removeIoEventFd(queues_[q].doorbell.get(), address + kNotifyOffset + kNotifyMultiplier * q, 0, false);
        } catch (const Error&) {
            // never registered (the map failed half-way); nothing to undo
        }
    }
}

void VirtioPciDevice::barRead(unsigned, uint64_t offset, std::span<uint8_t> data)
{
    if (offset >= kMsixPbaOffset) {
        msix_->pbaRead(offset - kMsixPbaOffset, data);
        return;
    }
    if (offset >= kMsixTableOffset) {
        msix_->tableRead(offset - kMsixTableOffset, data);
        return;
    }
    std::lock_guard lock(device_->mutex());
    if (offset < kIsrOffset) {
        commonRead(offset - kCommonOffset, data);
    } else if (offset < kDeviceOffset) {
        // Reading the ISR acknowledges it (4.1.4.5).
        putLittle(data, offset == kIsrOffset ? isr_ : 0);
        if (offset == kIsrOffset)
            isr_ = 0;
    } else if (offset < kNotifyOffset) {
        device_->readConfig(offset - kDeviceOffset, data);
    } else {
        putLittle(data, 0);
    }
}

void VirtioPciDevice::barWrite(unsigned, uint64_t offset, std::span<const uint8_t> data)
{
    if (offset >= kMsixPbaOffset)
        return;
    if (offset >= kMsixTableOffset) {
        msix_->tableWrite(offset - kMsixTableOffset, data);
        return;
    }
    if (offset >= kNotifyOffset) {
        // A doorbell that missed its ioeventfd (none registered): ring the same eventfd,
        // so the queue is still served on the devices thread.
        uint64_t q = (offset - kNotifyOffset) / kNotifyMultiplier;
        if (q < queues_.size()) {
            uint64_t one = 1;
            [[maybe_unused]] auto ignored = ::write(queues_[q].doorbell.get(), &one, sizeof one);
            if (!loop_)
                kick(static_cast<uint16_t>(q));
        }
        return;
    }
    std::lock_guard lock(device_->mutex());
    if (offset < kIsrOffset)
        commonWrite(offset - kCommonOffset, data);
    else if (offset >= kDeviceOffset)
        device_->writeConfig(offset - kDeviceOffset, data);
}

uint64_t VirtioPciDevice::offeredFeatures() const
{
    return device_->deviceFeatures() | bit(kFeatureVersion1) | bit(kFeatureEventIdx) | bit(kFeatureIndirectDesc);
}

void VirtioPciDevice::commonRead(uint64_t offset, std::span<uint8_t> data)
{
    Queue* q = queueSelect_ < queues_.size() ? &queues_[queueSelect_] : nullptr;
    uint64_t v = 0;
    switch (offset) {
    case 0x00: v = deviceFeatureSelect_; break;
    case 0x04: v = deviceFeatureSelect_ < 2 ? static_cast<uint32_t>(offeredFeatures() >> (32 * deviceFeatureSelect_)) : 0; break;
    case 0x08: v = driverFeatureSelect_; break;
    case 0x0c: v = driverFeatureSelect_ < 2 ? static_cast<uint32_t>(driverFeatures_ >> (32 * driverFeatureSelect_)) : 0; break;
    case 0x10: v = configVector_; break;
    case 0x12: v = queues_.size(); break;
    case 0x14: v = status_; break;
    case 0x15: v = 0; break;  // config generation: our device configs never tear
    case 0x16: v = queueSelect_; break;
    case 0x18: v = q ? q->size : 0; break;
    case 0x1a: v = q ? q->vector : pci::MsixTable::kNoVector; break;
    case 0x1c: v = q && q->enabled; break;
    case 0x1e: v = q ? queueSelect_ : 0; break;  // notify offset, in multiplier units
    case 0x20: v = q ? q->desc : 0; break;
    case 0x24: v = q ? q->desc >> 32 : 0; break;
    case 0x28: v = q ? q->avail : 0; break;
    case 0x2c: v = q ? q->avail >> 32 : 0; break;
    case 0x30: v = q ? q->used : 0; break;
    case 0x34: v = q ? q->used >> 32 : 0; break;
    default: break;
    }
    putLittle(data, v);
}

void VirtioPciDevice::commonWrite(uint64_t offset, std::span<const uint8_t> data)
{
    uint64_t v = little(data);
    Queue* q = queueSelect_ < queues_.size() ? &queues_[queueSelect_] : nullptr;
    // Queue registers only change while the queue is off and the driver is not done.
    bool queueWritable = q && !q->enabled && !(status_ & kStatusDriverOk);
    auto setLow = [](uint64_t& field, uint64_t value) { field = (field & ~0xffffffffull) | (value & 0xffffffff); };
    auto setHigh = [](uint64_t& field, uint64_t value) { field = (field & 0xffffffff) | (value << 32); };
    switch (offset) {
    case 0x00: deviceFeatureSelect_ = static_cast<uint32_t>(v); break;
    case 0x08: driverFeatureSelect_ = static_cast<uint32_t>(v); break;
    case 0x0c:
        if (driverFeatureSelect_ < 2 && !(status_ & kStatusFeaturesOk)) {
            unsigned shift = 32 * driverFeatureSelect_;
            driverFeatures_ = (driverFeatures_ & ~(0xffffffffull << shift)) | ((v & 0xffffffff) << shift);
        }
        break;
    case 0x10: configVector_ = static_cast<uint16_t>(v < msix_->size() ? v : pci::MsixTable::kNoVector); break;
    case 0x14: setStatus(static_cast<uint8_t>(v)); break;
    case 0x16: queueSelect_ = static_cast<uint16_t>(v); break;
    case 0x18:
        // A smaller power of two is the driver's right (4.1.4.3); anything else is ignored.
        if (queueWritable && v && v <= device_->queueMaxSize() && !(v & (v - 1)))
            q->size = static_cast<uint16_t>(v);
        break;
    case 0x1a:
        if (q)
            q->vector = static_cast<uint16_t>(v < msix_->size() ? v : pci::MsixTable::kNoVector);
        break;
    case 0x1c:
        if (queueWritable && v == 1)
            q->enabled = true;
        break;
    case 0x20: if (queueWritable) setLow(q->desc, v); break;
    case 0x24: if (queueWritable) setHigh(q->desc, v); break;
    case 0x28: if (queueWritable) setLow(q->avail, v); break;
    case 0x2c: if (queueWritable) setHigh(q->avail, v); break;
    case 0x30: if (queueWritable) setLow(q->used, v); break;
    case 0x34: if (queueWritable) setHigh(q->used, v); break;
    default: break;
    }
}

void VirtioPciDevice::setStatus(uint8_t status)
{
    if (status == 0) {
        resetLocked();
        return;
    }
    uint8_t added = static_cast<uint8_t>(status & ~status_);
    if (added & kStatusFeaturesOk) {
        // Only features we offered, and always the modern interface: otherwise FEATURES_OK
        // does not stick and the driver gives up (3.1.1).
        if ((driverFeatures_ & ~offeredFeatures()) || !(driverFeatures_ & bit(kFeatureVersion1)))
            status = static_cast<uint8_t>(status & ~kStatusFeaturesOk);
    }
    status_ = static_cast<uint8_t>(status | (status_ & kStatusNeedsReset));
    if ((added & kStatusDriverOk) && (status_ & kStatusFeaturesOk)) {
        try {
            for (auto& q : queues_)
                if (q.enabled)
                    q.ring = std::make_unique<VirtQueue>(memory_, QueueLayout{q.size, q.desc, q.avail, q.used},
                                                         driverFeatures_ & bit(kFeatureEventIdx),
                                                         driverFeatures_ & bit(kFeatureIndirectDesc));
            device_->activate(*this);
        } catch (const VirtQueueError& e) {
            needsReset(e.what());
            return;
        }
        ringDoorbells();  // buffers the driver queued before DRIVER_OK
    }
}

void VirtioPciDevice::resetLocked()
{
    device_->reset();
    for (auto& q : queues_) {
        q.ring.reset();
        q.enabled = false;
        q.size = device_->queueMaxSize();
        q.vector = pci::MsixTable::kNoVector;
        q.desc = q.avail = q.used = 0;
    }
    deviceFeatureSelect_ = driverFeatureSelect_ = 0;
    driverFeatures_ = 0;
    queueSelect_ = 0;
    configVector_ = pci::MsixTable::kNoVector;
    status_ = 0;
    isr_ = 0;
}

// The driver broke the rules (4.1.4.3 / 2.1.2): stop serving and tell it, never crash.
void VirtioPciDevice::needsReset(const std::string& why)
{
    if (status_ & kStatusNeedsReset)
        return;
    std::cerr << "mica-vmm: " << device_->name() << ": " << why << "; the device needs a reset" << std::endl;
    device_->reset();
    for (auto& q : queues_)
        q.ring.reset();
    status_ |= kStatusNeedsReset;
    isr_ |= 2;
    msix_->signal(configVector_);
}

void VirtioPciDevice::kick(uint16_t index)
{
    std::lock_guard lock(device_->mutex());
    if (!(status_ & kStatusDriverOk) || (status_ & kStatusNeedsReset) || index >= queues_.size() ||
        !queues_[index].ring)
        return;
    try {
        device_->processQueue(index);
    } catch (const std::exception& e) {
        // VirtQueueError from a bad driver, or anything else a device did not expect:
        // either way this device stops, the VMM and the other devices go on.
        needsReset(e.what());
    }
}

VirtQueue* VirtioPciDevice::queue(uint16_t index)
{
    return index < queues_.size() ? queues_[index].ring.get() : nullptr;
}

void VirtioPciDevice::notifyUsed(uint16_t index)
{
    if (index >= queues_.size() || !queues_[index].ring || !queues_[index].ring->needsInterrupt())
        return;
    isr_ |= 1;
    msix_->signal(queues_[index].vector);
}

}  // namespace mica::virtio

namespace mica::virtio {

void VirtioPciDevice::configChanged()
{
    isr_ |= 2;
    msix_->signal(configVector_);
}

}  // namespace mica::virtio
