#include "PciConfigSpace.h"

#include <stdexcept>

#include "StateJson.h"

namespace mica::pci {

PciConfigSpace::PciConfigSpace(const PciIds& ids)
{
    poke16(0x00, ids.vendor);
    poke16(0x02, ids.device);
    bytes_[0x08] = ids.revision;
    bytes_[0x09] = static_cast<uint8_t>(ids.classCode);
    bytes_[0x0a] = static_cast<uint8_t>(ids.classCode >> 8);
    bytes_[0x0b] = static_cast<uint8_t>(ids.classCode >> 16);
    poke16(0x2c, ids.subsystemVendor);
    poke16(0x2e, ids.subsystem);
    // Command: I/O space, memory space, bus master, parity, SERR, INTx disable.
    writable_[kCommand] = 0x47;
    writable_[kCommand + 1] = 0x05;
    writable_[0x0c] = 0xff;  // cache line size
    writable_[0x0d] = 0xff;  // latency timer
    writable_[0x3c] = 0xff;  // interrupt line: the OS's note to itself
}

void PciConfigSpace::read(uint16_t offset, std::span<uint8_t> data) const
{
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < kConfigSize ? bytes_[offset + i] : 0;
}

void PciConfigSpace::write(uint16_t offset, std::span<const uint8_t> data)
{
    for (size_t i = 0; i < data.size(); ++i) {
        size_t at = offset + i;
        if (at >= kConfigSize)
            return;
        bytes_[at] = static_cast<uint8_t>((bytes_[at] & ~writable_[at]) | (data[i] & writable_[at]));
    }
}

uint16_t PciConfigSpace::read16(uint16_t offset) const
{
    return static_cast<uint16_t>(bytes_[offset] | bytes_[offset + 1] << 8);
}

uint32_t PciConfigSpace::read32(uint16_t offset) const
{
    return uint32_t{read16(offset)} | uint32_t{read16(offset + 2)} << 16;
}

void PciConfigSpace::poke16(uint16_t offset, uint16_t value)
{
    bytes_[offset] = static_cast<uint8_t>(value);
    bytes_[offset + 1] = static_cast<uint8_t>(value >> 8);
}

void PciConfigSpace::addBar(unsigned index, const BarInfo& bar)
{
    if (index + (bar.is64 ? 1 : 0) >= kBarCount || bar.size < 16 || (bar.size & (bar.size - 1)))
        throw std::invalid_argument("bad PCI BAR " + std::to_string(index));
    bars_[index] = bar;
    uint16_t at = static_cast<uint16_t>(kBar0 + 4 * index);
    // Flag bits are read-only; address bits below the size read back as zero, which is
    // how the guest learns the size.
    uint64_t mask = ~(bar.size - 1);
    for (unsigned i = 0; i < (bar.is64 ? 8u : 4u); ++i)
        writable_[at + i] = static_cast<uint8_t>(mask >> (8 * i));
    writable_[at] &= 0xf0;
    bytes_[at] = static_cast<uint8_t>((bar.is64 ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0));
}

uint64_t PciConfigSpace::barAddress(unsigned index) const
{
    uint16_t at = static_cast<uint16_t>(kBar0 + 4 * index);
    uint64_t value = read32(at) & ~0xfu;
    if (bars_[index].is64)
        value |= uint64_t{read32(at + 4)} << 32;
    return value;
}

void PciConfigSpace::setBarAddress(unsigned index, uint64_t address)
{
    uint16_t at = static_cast<uint16_t>(kBar0 + 4 * index);
    uint32_t low = static_cast<uint32_t>(address & ~0xfull) | (bytes_[at] & 0xf);
    poke16(at, static_cast<uint16_t>(low));
    poke16(at + 2, static_cast<uint16_t>(low >> 16));
    if (bars_[index].is64) {
        poke16(at + 4, static_cast<uint16_t>(address >> 32));
        poke16(at + 6, static_cast<uint16_t>(address >> 48));
    }
}

uint8_t PciConfigSpace::addCapability(uint8_t id, std::span<const uint8_t> body, std::span<const uint8_t> writable)
{
    size_t length = 2 + body.size();
    if (nextCapability_ + length > kConfigSize)
        throw std::length_error("PCI capabilities do not fit in the configuration header");
    auto at = static_cast<uint8_t>(nextCapability_);
    bytes_[at] = id;
    bytes_[at + 1] = 0;
    for (size_t i = 0; i < body.size(); ++i) {
        bytes_[at + 2 + i] = body[i];
        writable_[at + 2 + i] = i < writable.size() ? writable[i] : 0;
    }
    if (lastCapability_)
        bytes_[lastCapability_ + 1] = at;
    else
        bytes_[kCapabilitiesPointer] = at;
    bytes_[kStatus] |= kStatusCapabilities;
    lastCapability_ = at;
    nextCapability_ = static_cast<uint16_t>((at + length + 3) & ~3u);
    return at;
}

}  // namespace mica::pci

namespace mica::pci {

nlohmann::json PciConfigSpace::save() const
{
    return encodeBase64(bytes_);
}

void PciConfigSpace::restore(const nlohmann::json& state)
{
    if (!state.is_string())
        throw StateError("PCI configuration: expected a base64 string");
    auto bytes = decodeBase64(state.get<std::string>(), "PCI configuration");
    if (bytes.size() != kConfigSize)
        throw StateError("PCI configuration: " + std::to_string(bytes.size()) + " bytes, not " + std::to_string(kConfigSize));
    // Vendor and device ids (0x00-0x03), revision and class (0x08-0x0b): the same function.
    for (uint16_t at : {0, 1, 2, 3, 8, 9, 10, 11})
        if (bytes[at] != bytes_[at])
            throw StateError("PCI configuration: saved from a different device (" + std::to_string(read16(2)) +
                             " here, " + std::to_string(bytes[2] | bytes[3] << 8) + " saved)");
    std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}

}  // namespace mica::pci
