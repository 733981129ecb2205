#include "IoBus.h"

#include <algorithm>
#include <mutex>

#include "Error.h"

namespace mica {

void IoBus::add(uint64_t base, uint64_t length, std::shared_ptr<BusDevice> device)
{
    std::unique_lock lock(mutex_);
    auto next = ranges_.lower_bound(base);
    bool overlapsNext = next != ranges_.end() && next->first < base + length;
    bool overlapsPrev = next != ranges_.begin() && std::prev(next)->first + std::prev(next)->second.length > base;
    if (length == 0 || overlapsNext || overlapsPrev)
        throw Error(name_ + " bus: range " + std::to_string(base) + "+" + std::to_string(length) +
                    " overlaps another device");
    ranges_.emplace(base, Range{length, std::move(device)});
}

void IoBus::remove(uint64_t base)
{
    std::unique_lock lock(mutex_);
    ranges_.erase(base);
}

std::pair<BusDevice*, uint64_t> IoBus::lookup(uint64_t addr, size_t length) const
{
    auto it = ranges_.upper_bound(addr);
    if (it == ranges_.begin())
        return {nullptr, 0};
    --it;
    uint64_t offset = addr - it->first;
    if (offset >= it->second.length || length > it->second.length - offset)
        return {nullptr, 0};
    return {it->second.device.get(), offset};
}

bool IoBus::read(uint64_t addr, std::span<uint8_t> data) const
{
    std::shared_lock lock(mutex_);
    auto [device, offset] = lookup(addr, data.size());
    if (!device) {
        std::fill(data.begin(), data.end(), 0xff);
        return false;
    }
    device->read(offset, data);
    return true;
}

bool IoBus::write(uint64_t addr, std::span<const uint8_t> data) const
{
    std::shared_lock lock(mutex_);
    auto [device, offset] = lookup(addr, data.size());
    if (!device)
        return false;
    device->write(offset, data);
    return true;
}

bool IoBus::writeEach(uint64_t addr, std::span<const uint8_t> bytes) const
{
    std::shared_lock lock(mutex_);
    auto [device, offset] = lookup(addr, 1);
    if (!device)
        return false;
    device->writeEach(offset, bytes);
    return true;
}

}  // namespace mica
