// What sits on the port-I/O or MMIO bus: a device that answers reads and writes at
// offsets from the base address it was registered at.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace mica {

class BusDevice {
public:
    virtual ~BusDevice() = default;
    // Called from vCPU threads, possibly several at once: devices lock what they share.
    virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
    // Successive one-byte writes to one register, in order: a burst KVM's coalesced ring
    // held (a UART's FIFO load). A device that can take them at once overrides this.
    virtual void writeEach(uint64_t offset, std::span<const uint8_t> bytes)
    {
        for (const uint8_t& byte : bytes)
            write(offset, {&byte, 1});
    }
};

// Drives one interrupt line (an ISA IRQ / GSI of the in-kernel irqchip).
using IrqLine = std::function<void(bool level)>;

}  // namespace mica
