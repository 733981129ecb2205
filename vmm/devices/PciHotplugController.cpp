#include "PciHotplugController.h"

#include <algorithm>
#include <utility>

namespace mica {

void PciHotplugController::plugged(unsigned slot)
{
    std::lock_guard lock(mutex_);
    up_ |= 1u << slot;
    down_ &= ~(1u << slot);
}

void PciHotplugController::unplugRequested(unsigned slot)
{
    std::lock_guard lock(mutex_);
    down_ |= 1u << slot;
    up_ &= ~(1u << slot);
}

void PciHotplugController::cancelUnplug(unsigned slot)
{
    std::lock_guard lock(mutex_);
    down_ &= ~(1u << slot);
}

void PciHotplugController::read(uint64_t offset, std::span<uint8_t> data)
{
    std::fill(data.begin(), data.end(), 0);
    if (data.size() != 4)
        return;
    uint32_t value = 0;
    {
        std::lock_guard lock(mutex_);
        if (offset == kPciUp)
            value = std::exchange(up_, 0);
        else if (offset == kPciDown)
            value = std::exchange(down_, 0);
        // B0EJ reads 0; PSEG is always segment 0.
    }
    for (unsigned i = 0; i < 4; ++i)
        data[i] = static_cast<uint8_t>(value >> (8 * i));
}

void PciHotplugController::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (data.size() != 4 || offset != kEject)
        return;   // PSEG: one segment, nothing to select
    uint32_t slots = 0;
    for (unsigned i = 0; i < 4; ++i)
        slots |= uint32_t{data[i]} << (8 * i);
    for (unsigned slot = 0; slot < 32; ++slot)
        if (slots & (1u << slot))
            eject_(slot);
}

}  // namespace mica
