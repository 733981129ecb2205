// Address-range dispatch for guest port I/O or MMIO exits. Ranges never overlap;
// accesses nobody claims read as all-ones and writes vanish, as on real hardware. Each
// range counts the accesses that reached it (exits to this process; vm.counters), and
// unclaimed addresses are counted too: where a guest's boot spends its exits.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include <nlohmann/json.hpp>

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
    // {"0x3f8-0x3ff": accesses, ..., "unclaimed 0x80": accesses}: ranges and unclaimed
    // addresses that were accessed, through read() and write().
    nlohmann::json accessCounts() const;

private:
    struct Range {
        uint64_t length;
        std::shared_ptr<BusDevice> device;
        std::unique_ptr<std::atomic<uint64_t>> accesses = std::make_unique<std::atomic<uint64_t>>(0);
    };
    // The range holding [addr, addr + length), and the offset into it; null when none.
    std::pair<const Range*, uint64_t> lookup(uint64_t addr, size_t length) const;
    // lookup() for read() and write(): counts the access.
    std::pair<BusDevice*, uint64_t> access(uint64_t addr, size_t length) const;
    // A guest probing every port keeps no more than this many unclaimed addresses apart.
    static constexpr size_t kUnclaimedKept = 64;
    mutable std::mutex unclaimedMutex_;
    mutable std::map<uint64_t, uint64_t> unclaimed_;   // address -> accesses
    mutable uint64_t unclaimedOther_ = 0;              // beyond kUnclaimedKept addresses
    std::string name_;
    mutable std::shared_mutex mutex_;   // hotplug later adds and removes while vCPUs run
    std::map<uint64_t, Range> ranges_;  // keyed by base
};

}  // namespace mica
