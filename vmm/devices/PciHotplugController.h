// The PCI hotplug registers the DSDT's \_SB.PHPR reads and writes (Cloud Hypervisor's
// layout, one PCI segment): which slots came up (PCIU) and which the VMM wants gone
// (PCID), both read-to-clear, so the guest's PCNT notifies each slot once; and B0EJ,
// where the guest's _EJ0 says it has let a slot's device go. Only 32-bit accesses count:
// the AML field is DWordAcc.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

#include "BusDevice.h"

namespace mica {

class PciHotplugController : public BusDevice {
public:
    static constexpr uint64_t kPciUp = 0x0, kPciDown = 0x4, kEject = 0x8, kSegment = 0xc;
    static constexpr uint64_t kSize = 0x10;

    // `eject(slot)` runs on the vCPU thread that wrote B0EJ, once per set bit.
    explicit PciHotplugController(std::function<void(unsigned slot)> eject) : eject_(std::move(eject)) {}
    // The VMM's side: a device came up in `slot`, or the guest is asked to let go of one.
    // The caller then notifies the GED.
    void plugged(unsigned slot);
    void unplugRequested(unsigned slot);
    // Forgets an unplug request the guest has not served (a timeout, an eject done).
    void cancelUnplug(unsigned slot);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    std::function<void(unsigned)> eject_;
    std::mutex mutex_;
    uint32_t up_ = 0, down_ = 0;
};

}  // namespace mica
