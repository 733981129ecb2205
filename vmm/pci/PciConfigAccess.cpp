#include "PciConfigAccess.h"

namespace mica::pci {

namespace {

PciAddress decode(uint64_t value, unsigned busShift)
{
    return PciAddress{static_cast<uint8_t>(value >> busShift), static_cast<uint8_t>((value >> (busShift - 5)) & 0x1f),
                      static_cast<uint8_t>((value >> (busShift - 8)) & 0x7)};
}

void fill(std::span<uint8_t> data)
{
    for (auto& b : data)
        b = 0xff;
}

}  // namespace

void PciConfigIo::read(uint64_t offset, std::span<uint8_t> data)
{
    if (offset < 4) {
        uint32_t value = address_;
        for (size_t i = 0; i < data.size() && offset + i < 4; ++i)
            data[i] = static_cast<uint8_t>(value >> (8 * (offset + i)));
        return;
    }
    uint32_t address = address_;
    if (!(address & 0x80000000u)) {
        fill(data);
        return;
    }
    auto reg = static_cast<uint16_t>((address & 0xfc) + (offset - 4));
    bus_.configRead(decode(address, 16), reg, data);
}

void PciConfigIo::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (offset < 4) {
        // Only a dword write to 0xcf8 sets the address (byte writes there are other chipset registers).
        if (offset == 0 && data.size() == 4)
            address_ = uint32_t{data[0]} | uint32_t{data[1]} << 8 | uint32_t{data[2]} << 16 | uint32_t{data[3]} << 24;
        return;
    }
    uint32_t address = address_;
    if (!(address & 0x80000000u))
        return;
    auto reg = static_cast<uint16_t>((address & 0xfc) + (offset - 4));
    bus_.configWrite(decode(address, 16), reg, data);
}

void PciEcam::read(uint64_t offset, std::span<uint8_t> data)
{
    if ((offset & 0xfff) + data.size() > 0x1000) {
        fill(data);
        return;
    }
    bus_.configRead(decode(offset, 20), static_cast<uint16_t>(offset & 0xfff), data);
}

void PciEcam::write(uint64_t offset, std::span<const uint8_t> data)
{
    if ((offset & 0xfff) + data.size() > 0x1000)
        return;
    bus_.configWrite(decode(offset, 20), static_cast<uint16_t>(offset & 0xfff), data);
}

}  // namespace mica::pci
