#include "PciBus.h"

#include <utility>

#include "Error.h"
#include "i18n.h"

namespace mica::pci {

namespace {

// What the guest's accesses to a BAR land on: forwards to the device with the BAR index.
class BarWindow : public BusDevice {
public:
    BarWindow(std::shared_ptr<PciDevice> device, unsigned bar) : device_(std::move(device)), bar_(bar) {}
    void read(uint64_t offset, std::span<uint8_t> data) override { device_->barRead(bar_, offset, data); }
    void write(uint64_t offset, std::span<const uint8_t> data) override { device_->barWrite(bar_, offset, data); }

private:
    std::shared_ptr<PciDevice> device_;
    unsigned bar_;
};

// The host bridge: identifies bus 0 to the guest and does nothing else.
class HostBridge : public PciDevice {
public:
    HostBridge() : PciDevice(PciIds{.vendor = 0x1b36, .device = 0x0008, .classCode = 0x060000}) {}
};

}  // namespace

PciBus::PciBus(IoBus& mmio, uint64_t mmioBase, uint64_t mmioSize)
    : mmio_(mmio), mmioBase_(mmioBase), mmioSize_(mmioSize), mmioSpace_(mmioBase, mmioSize)
{
    add(std::make_shared<HostBridge>(), 0);
}

PciBus::~PciBus()
{
    std::lock_guard lock(mutex_);
    for (auto& slot : slots_)
        for (unsigned bar = 0; bar < kBarCount; ++bar)
            if (slot.mapped[bar])
                unmapBar(slot, bar);
}

PciAddress PciBus::add(std::shared_ptr<PciDevice> device, std::optional<uint8_t> wanted, bool hotplug)
{
    std::lock_guard lock(mutex_);
    unsigned index = 0;
    if (wanted) {
        index = *wanted;
        if (index >= kSlots || slots_[index].device)
            throw Error(_("PCI slot ") + std::to_string(index) + _(" is not free"));
    } else {
        while (index < kSlots && slots_[index].device)
            ++index;
        if (index == kSlots)
            throw Error(_("no free PCI slot left on bus 0"));
    }
    // Every BAR is a power of two, placed naturally aligned.
    auto& config = device->config();
    Slot& slot = slots_[index];
    for (unsigned bar = 0; bar < kBarCount; ++bar) {
        uint64_t size = config.bar(bar).size;
        if (!size)
            continue;
        slot.allocated[bar] = mmioSpace_.allocate(size);
        if (!slot.allocated[bar]) {
            freeBars(slot);
            throw Error(_("PCI MMIO window full: cannot place a BAR of ") + std::to_string(size) + _(" bytes"));
        }
        config.setBarAddress(bar, *slot.allocated[bar]);
    }
    slot.device = std::move(device);
    // Firmware would leave memory decoding on for the devices it set up; a hot-added
    // function waits for the guest's own.
    if (!hotplug)
        config.poke16(kCommand, static_cast<uint16_t>(config.command() | kCommandMemory));
    followBars(slot);
    return PciAddress{0, static_cast<uint8_t>(index), 0};
}

void PciBus::remove(uint8_t index)
{
    Slot gone;
    {
        std::lock_guard lock(mutex_);
        if (index == 0 || index >= kSlots || !slots_[index].device)
            throw Error(_("PCI slot ") + std::to_string(index) + _(" holds no device to remove"));
        gone = std::exchange(slots_[index], Slot{});
    }
    // The slot is empty now: config accesses find nothing, and no followBars() can map
    // these BARs again. Their ranges are free once they have left the MMIO bus.
    for (unsigned bar = 0; bar < kBarCount; ++bar)
        if (gone.mapped[bar])
            unmapBar(gone, bar);
    std::lock_guard lock(mutex_);
    freeBars(gone);
}

void PciBus::freeBars(Slot& slot)
{
    for (auto& range : slot.allocated)
        if (range)
            mmioSpace_.free(*std::exchange(range, std::nullopt));
}

uint64_t PciBus::mmioUsed() const
{
    std::lock_guard lock(mutex_);
    return mmioSpace_.used();
}

std::shared_ptr<PciDevice> PciBus::at(PciAddress address) const
{
    std::lock_guard lock(mutex_);
    if (address.bus != 0 || address.function != 0 || address.slot >= kSlots)
        return nullptr;
    return slots_[address.slot].device;
}

void PciBus::followAllBars()
{
    std::lock_guard lock(mutex_);
    for (auto& slot : slots_)
        if (slot.device)
            followBars(slot);
}

void PciBus::configRead(PciAddress address, uint16_t offset, std::span<uint8_t> data)
{
    auto device = at(address);
    if (!device) {
        for (auto& b : data)
            b = 0xff;
        return;
    }
    device->configRead(offset, data);
}

void PciBus::configWrite(PciAddress address, uint16_t offset, std::span<const uint8_t> data)
{
    auto device = at(address);
    if (!device)
        return;
    device->configWrite(offset, data);
    std::lock_guard lock(mutex_);
    followBars(slots_[address.slot]);
}

// Keeps the bus mappings in step with what the guest programmed: a BAR is mapped while
// memory decoding is on and it holds an address inside the window. Sizing writes
// (all-ones) happen with decoding off, so they never map anything.
void PciBus::followBars(Slot& slot)
{
    auto& config = slot.device->config();
    bool decode = config.command() & kCommandMemory;
    for (unsigned bar = 0; bar < kBarCount; ++bar) {
        uint64_t size = config.bar(bar).size;
        if (!size)
            continue;
        uint64_t address = config.barAddress(bar);
        bool valid = decode && address >= mmioBase_ && address + size <= mmioBase_ + mmioSize_;
        if (slot.mapped[bar] && (!valid || *slot.mapped[bar] != address))
            unmapBar(slot, bar);
        if (valid && !slot.mapped[bar])
            mapBar(slot, bar, address);
    }
}

void PciBus::mapBar(Slot& slot, unsigned bar, uint64_t address)
{
    try {
        mmio_.add(address, slot.device->config().bar(bar).size, std::make_shared<BarWindow>(slot.device, bar));
    } catch (const Error&) {
        return;  // overlaps another BAR: stays unmapped until the guest moves one of them
    }
    slot.mapped[bar] = address;
    slot.device->barMapped(bar, address);
}

void PciBus::unmapBar(Slot& slot, unsigned bar)
{
    uint64_t address = *slot.mapped[bar];
    slot.device->barUnmapped(bar, address);
    mmio_.remove(address);
    slot.mapped[bar].reset();
}

}  // namespace mica::pci
