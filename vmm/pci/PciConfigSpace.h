// A type-0 PCI configuration header (256 bytes) with per-byte write masks, so a guest
// can only change what real hardware would let it change, BAR sizing works by the
// usual "write all-ones, read back" and capabilities form a linked list.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

namespace mica::pci {

constexpr uint16_t kCommand = 0x04;
constexpr uint16_t kStatus = 0x06;
constexpr uint16_t kBar0 = 0x10;
constexpr uint16_t kCapabilitiesPointer = 0x34;
constexpr uint16_t kCommandMemory = 0x2;
constexpr uint16_t kStatusCapabilities = 0x10;
constexpr unsigned kBarCount = 6;
constexpr size_t kConfigSize = 256;

struct PciIds {
    uint16_t vendor = 0, device = 0;
    uint32_t classCode = 0;  // base class << 16 | subclass << 8 | prog-if
    uint8_t revision = 0;
    uint16_t subsystemVendor = 0, subsystem = 0;
};

struct BarInfo {
    uint64_t size = 0;  // 0: unused; else a power of two >= 16
    bool is64 = false;
    bool prefetchable = false;
};

class PciConfigSpace {
public:
    explicit PciConfigSpace(const PciIds& ids);

    // Accesses of 1, 2 or 4 bytes; reads past the header read as zero, writes vanish.
    void read(uint16_t offset, std::span<uint8_t> data) const;
    void write(uint16_t offset, std::span<const uint8_t> data);

    // Declares a memory BAR (a 64-bit one also takes index + 1).
    void addBar(unsigned index, const BarInfo& bar);
    const BarInfo& bar(unsigned index) const { return bars_[index]; }
    // The address currently programmed in a BAR (without its flag bits).
    uint64_t barAddress(unsigned index) const;
    void setBarAddress(unsigned index, uint64_t address);

    // Appends a capability: `body` is everything after the id and next bytes, `writable`
    // (same length, or empty) marks which of its bits the guest may change. Returns its offset.
    uint8_t addCapability(uint8_t id, std::span<const uint8_t> body, std::span<const uint8_t> writable = {});

    uint16_t command() const { return read16(kCommand); }
    uint8_t read8(uint16_t offset) const { return bytes_[offset]; }
    uint16_t read16(uint16_t offset) const;
    uint32_t read32(uint16_t offset) const;
    // The header as the guest left it; restore() refuses a state of another device
    // (vendor, device, class or revision differ).
    nlohmann::json save() const;
    void restore(const nlohmann::json& state);
    // Sets bytes as the device (not the guest), ignoring write masks.
    void poke16(uint16_t offset, uint16_t value);

private:
    std::array<uint8_t, kConfigSize> bytes_{};
    std::array<uint8_t, kConfigSize> writable_{};
    std::array<BarInfo, kBarCount> bars_{};
    uint8_t lastCapability_ = 0;
    uint16_t nextCapability_ = 0x40;
};

}  // namespace mica::pci
