// PCI bus 0 behind the host bridge: a slot map (slot -> function 0 device), BAR
// placement in the 32-bit MMIO window (an allocator that frees, for unplug), and
// configuration access by bus/slot/function for the CF8/CFC ports and ECAM. The host
// bridge sits in slot 0.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "AddressAllocator.h"
#include "IoBus.h"
#include "PciDevice.h"

namespace mica::pci {

struct PciAddress {
    uint8_t bus = 0, slot = 0, function = 0;
};

class PciBus {
public:
    static constexpr unsigned kSlots = 32;
    // BARs go to [mmioBase, mmioBase + mmioSize) and are registered on `mmio`.
    PciBus(IoBus& mmio, uint64_t mmioBase, uint64_t mmioSize);
    ~PciBus();

    // Plugs `device` into `slot` (or the first free one), places its BARs and maps them.
    // Throws Error when the slot is taken or the window is full. `hotplug`: the device
    // comes up as a hot-added function does, decoding off, for the guest to place and
    // enable (its BARs hold the allocator's addresses meanwhile).
    PciAddress add(std::shared_ptr<PciDevice> device, std::optional<uint8_t> slot = std::nullopt,
                   bool hotplug = false);
    // Unplugs the device in `slot`: its BARs leave the bus and their ranges are free again;
    // the slot reads as absent at once. Safe from a vCPU thread inside a port I/O access:
    // the MMIO bus is changed without this bus's lock held, which an ECAM access holding
    // the MMIO bus may be waiting for.
    void remove(uint8_t slot);
    std::shared_ptr<PciDevice> at(PciAddress address) const;
    uint64_t mmioUsed() const;
    // Maps every device's BARs where its configuration says (after a restore).
    void followAllBars();

    // Configuration access; absent functions read as all-ones.
    void configRead(PciAddress address, uint16_t offset, std::span<uint8_t> data);
    void configWrite(PciAddress address, uint16_t offset, std::span<const uint8_t> data);

private:
    struct Slot {
        std::shared_ptr<PciDevice> device;
        std::array<std::optional<uint64_t>, kBarCount> mapped;     // where each BAR is on the bus
        std::array<std::optional<uint64_t>, kBarCount> allocated;  // the range each BAR was given
    };
    void mapBar(Slot& slot, unsigned bar, uint64_t address);
    void unmapBar(Slot& slot, unsigned bar);
    void followBars(Slot& slot);
    void freeBars(Slot& slot);

    IoBus& mmio_;
    uint64_t mmioBase_, mmioSize_;
    AddressAllocator mmioSpace_;
    mutable std::mutex mutex_;
    std::array<Slot, kSlots> slots_;
};

}  // namespace mica::pci
