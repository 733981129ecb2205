// Hands out naturally aligned ranges of one address window (the PCI MMIO window for
// BARs) and takes them back, so a device that is unplugged leaves room for the next.
// First fit from the bottom: devices placed at boot get the same addresses every time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace mica::pci {

class AddressAllocator {
public:
    AddressAllocator(uint64_t base, uint64_t size) : base_(base), end_(base + size) {}

    // A free range of `size` bytes (a power of two) aligned to its size; none if full.
    std::optional<uint64_t> allocate(uint64_t size);
    // Takes back a range allocate() returned; anything else is ignored.
    void free(uint64_t address);
    uint64_t used() const;

private:
    uint64_t base_, end_;
    std::map<uint64_t, uint64_t> ranges_;  // start -> size, of what is handed out
};

}  // namespace mica::pci
