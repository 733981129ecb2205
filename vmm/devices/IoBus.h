// Address-range dispatch for guest port I/O or MMIO exits. Ranges never overlap;
// accesses nobody claims read as all-ones and writes vanish, as on real hardware.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>

#include "BusDevice.h"

namespace mica {

class IoBus {
public:
    explicit IoBus(std::string name) : name_(std::move(name)) {}
    // Throws Error when [base, base + length) overlaps a registered range.
    void add(uint64_t base, uint64_t length, std::shared_ptr<BusDevice> device);
    void remove(uint64_t base);
    // Returns false when no device claims `addr` (reads are then filled with 0xff).
    bool read(uint64_t addr, std::span<uint8_t> data) const;
    bool write(uint64_t addr, std::span<const uint8_t> data) const;
    // Successive one-byte writes to addr (BusDevice::writeEach).
    bool writeEach(uint64_t addr, std::span<const uint8_t> bytes) const;

private:
    struct Range {
        uint64_t length;
        std::shared_ptr<BusDevice> device;
    };
    // The device whose range holds addr, and the offset into it; null when none.
    std::pair<BusDevice*, uint64_t> lookup(uint64_t addr, size_t length) const;
    std::string name_;
    mutable std::shared_mutex mutex_;   // hotplug later adds and removes while vCPUs run
    std::map<uint64_t, Range> ranges_;  // keyed by base
};

}  // namespace mica
