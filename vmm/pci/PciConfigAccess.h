// The two ways a guest reaches PCI configuration space: the legacy CF8/CFC port pair
// (address register, then data window) and ECAM, a memory window with 4 KiB per function.
#pragma once

#include <atomic>

#include "BusDevice.h"
#include "PciBus.h"

namespace mica::pci {

// Registered at port 0xcf8, 8 bytes: 0xcf8 address (dword), 0xcfc-0xcff data.
class PciConfigIo : public BusDevice {
public:
    explicit PciConfigIo(PciBus& bus) : bus_(bus) {}
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    PciBus& bus_;
    std::atomic<uint32_t> address_{0};
};

// Registered at the ECAM base: offset = bus << 20 | slot << 15 | function << 12 | register.
class PciEcam : public BusDevice {
public:
    explicit PciEcam(PciBus& bus) : bus_(bus) {}
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    PciBus& bus_;
};

}  // namespace mica::pci
