// A function on the PCI bus: its configuration header and its memory BARs. PciBus
// places the BARs and forwards guest accesses; vCPU threads call in, several at once,
// so a device locks what it shares.
#pragma once

#include <cstdint>
#include <span>

#include "PciConfigSpace.h"

namespace mica::pci {

class PciDevice {
public:
    explicit PciDevice(const PciIds& ids) : config_(ids) {}
    virtual ~PciDevice() = default;

    virtual void configRead(uint16_t offset, std::span<uint8_t> data) { config_.read(offset, data); }
    virtual void configWrite(uint16_t offset, std::span<const uint8_t> data) { config_.write(offset, data); }
    virtual void barRead(unsigned /*bar*/, uint64_t /*offset*/, std::span<uint8_t> data)
    {
        for (auto& b : data)
            b = 0xff;
    }
    virtual void barWrite(unsigned /*bar*/, uint64_t /*offset*/, std::span<const uint8_t> /*data*/) {}
    // The bus (un)mapped a BAR at `address`: devices with doorbells move their ioeventfds.
    virtual void barMapped(unsigned /*bar*/, uint64_t /*address*/) {}
    virtual void barUnmapped(unsigned /*bar*/, uint64_t /*address*/) {}

    PciConfigSpace& config() { return config_; }

protected:
    PciConfigSpace config_;
};

}  // namespace mica::pci
