#include "IoBus.h"

#include <algorithm>
#include <cstdio>
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

std::pair<const IoBus::Range*, uint64_t> IoBus::lookup(uint64_t addr, size_t length) const
{
    auto it = ranges_.upper_bound(addr);
    if (it == ranges_.begin())
        return {nullptr, 0};
    --it;
    uint64_t offset = addr - it->first;
    if (offset >= it->second.length || length > it->second.length - offset)
        return {nullptr, 0};
    return {&it->second, offset};
}

std::pair<BusDevice*, uint64_t> IoBus::access(uint64_t addr, size_t length) const
{
    if (auto [range, offset] = lookup(addr, length); range) {
        range->accesses->fetch_add(1, std::memory_order_relaxed);
        return {range->device.get(), offset};
    }
    std::lock_guard lock(unclaimedMutex_);
    if (auto counted = unclaimed_.find(addr); counted != unclaimed_.end())
        ++counted->second;
    else if (unclaimed_.size() < kUnclaimedKept)
        unclaimed_[addr] = 1;
    else
        ++unclaimedOther_;
    return {nullptr, 0};
}

nlohmann::json IoBus::accessCounts() const
{
    auto hex = [](uint64_t v) {
        char text[24];
        std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
        return std::string(text);
    };
    nlohmann::json out = nlohmann::json::object();
    {
        std::shared_lock lock(mutex_);
        for (const auto& [base, range] : ranges_)
            if (uint64_t n = range.accesses->load(std::memory_order_relaxed))
                out[hex(base) + "-" + hex(base + range.length - 1)] = n;
    }
    std::lock_guard lock(unclaimedMutex_);
    for (const auto& [addr, n] : unclaimed_)
        out["unclaimed " + hex(addr)] = n;
    if (unclaimedOther_)
        out["unclaimed, other addresses"] = unclaimedOther_;
    return out;
}

bool IoBus::read(uint64_t addr, std::span<uint8_t> data) const
{
    std::shared_lock lock(mutex_);
    auto [device, offset] = access(addr, data.size());
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
    auto [device, offset] = access(addr, data.size());
    if (!device)
        return false;
    device->write(offset, data);
    return true;
}

bool IoBus::writeEach(uint64_t addr, std::span<const uint8_t> bytes) const
{
    std::shared_lock lock(mutex_);
    auto [range, offset] = lookup(addr, 1);
    if (!range)
        return false;
    range->device->writeEach(offset, bytes);
    return true;
}

}  // namespace mica
