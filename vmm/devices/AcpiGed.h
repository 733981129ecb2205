// The ACPI Generic Event Device's event register: one byte of "what changed" bits that
// the guest's \_SB.GED_._EVT reads (the read clears them) to call the scanner of each
// hotplug kind, and the edge interrupt (ACPI0013's _CRS) that tells it to look.
#pragma once

#include <cstdint>
#include <mutex>

#include "BusDevice.h"

namespace mica {

class AcpiGed : public BusDevice {
public:
    // Bits of the event register (GDAT) the DSDT's ESCN method tests.
    static constexpr uint8_t kPciChanged = 0x04;
    static constexpr uint64_t kSize = 1;

    explicit AcpiGed(IrqLine irq) : irq_(std::move(irq)) {}
    // Sets `bits` and pulses the interrupt.
    void notify(uint8_t bits);
    // GDAT: read-to-clear; writes are ignored, as are other offsets and widths.
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t, std::span<const uint8_t>) override {}

private:
    IrqLine irq_;
    std::mutex mutex_;
    uint8_t pending_ = 0;
};

}  // namespace mica
