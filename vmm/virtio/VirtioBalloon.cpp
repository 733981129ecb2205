#include "VirtioBalloon.h"

#include "StateJson.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "VirtioSpec.h"

namespace mica::virtio {

namespace {
constexpr unsigned kFeatureStatsVq = 1, kFeatureDeflateOnOom = 2, kFeatureReporting = 5;
constexpr uint64_t kPage = 4096;  // the balloon's PFNs are always 4 KiB pages
}  // namespace

VirtioBalloon::VirtioBalloon(const GuestMemory& memory, uint64_t targetBytes, bool freePageReporting, bool deflateOnOom)
    : memory_(memory), reporting_(freePageReporting), deflateOnOom_(deflateOnOom),
      targetPages_(static_cast<uint32_t>(targetBytes / kPage))
{
}

nlohmann::json VirtioBalloon::save()
{
    return {{"target_pages", targetPages_}, {"actual_pages", actualPages_}};
}

void VirtioBalloon::restore(const nlohmann::json& state)
{
    auto target = readState<uint32_t>(stateField(state, "target_pages", name()), name());
    auto actual = readState<uint32_t>(stateField(state, "actual_pages", name()), name());
    if (uint64_t{target} * kPage > memory_.size() || uint64_t{actual} * kPage > memory_.size())
        throw StateError(name() + ": a balloon larger than guest memory");
    targetPages_ = target;
    actualPages_ = actual;
}

uint16_t VirtioBalloon::deviceType() const
{
    return kTypeBalloon;
}

uint64_t VirtioBalloon::deviceFeatures() const
{
    return bit(kFeatureStatsVq) | (deflateOnOom_ ? bit(kFeatureDeflateOnOom) : 0) | (reporting_ ? bit(kFeatureReporting) : 0);
}

void VirtioBalloon::readConfig(uint64_t offset, std::span<uint8_t> data)
{
    uint32_t config[4] = {targetPages_, actualPages_, 0, 0};
    auto* bytes = reinterpret_cast<const uint8_t*>(config);
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < sizeof config ? bytes[offset + i] : 0;
}

void VirtioBalloon::writeConfig(uint64_t offset, std::span<const uint8_t> data)
{
    // Only "actual" (offset 4) is the driver's to write.
    for (size_t i = 0; i < data.size(); ++i) {
        uint64_t at = offset + i;
        if (at >= 4 && at < 8) {
            unsigned shift = 8 * static_cast<unsigned>(at - 4);
            actualPages_ = (actualPages_ & ~(0xffu << shift)) | (uint32_t{data[i]} << shift);
        }
    }
}

void VirtioBalloon::activate(QueueHost& host)
{
    statsHead_.reset();
    VirtioDevice::activate(host);
}

// Queues the driver did not negotiate are left out of the numbering (Linux compacts
// them), so the reporting queue is 2 without the statistics queue.
VirtioBalloon::Role VirtioBalloon::role(uint16_t index) const
{
    bool stats = host_ && (host_->driverFeatures() & bit(kFeatureStatsVq));
    bool reporting = host_ && (host_->driverFeatures() & bit(kFeatureReporting));
    if (index == 0)
        return Role::Inflate;
    if (index == 1)
        return Role::Deflate;
    if (index == 2)
        return stats ? Role::Stats : reporting ? Role::Reporting : Role::None;
    if (index == 3 && stats && reporting)
        return Role::Reporting;
    return Role::None;
}

void VirtioBalloon::release(uint64_t gpa, uint64_t length)
{
    memory_.discard(memory_.slice(gpa, length));  // throws for addresses outside RAM
}

void VirtioBalloon::processQueue(uint16_t index)
{
    VirtQueue* queue = host_ ? host_->queue(index) : nullptr;
    if (!queue)
        return;
    Role r = role(index);
    bool used = false;
    while (auto chain = queue->pop()) {
        try {
            if (r == Role::Inflate) {
                ChainReader reader(chain->readable);
                uint32_t pfn;
                while (reader.read({reinterpret_cast<uint8_t*>(&pfn), 4}) == 4)
                    release(uint64_t{pfn} * kPage, kPage);
            } else if (r == Role::Stats) {
                ChainReader reader(chain->readable);
                uint8_t entry[10];
                while (reader.read(entry) == sizeof entry) {
                    uint16_t tag;
                    uint64_t value;
                    std::memcpy(&tag, entry, 2);
                    std::memcpy(&value, entry + 2, 8);
                    stats_[tag] = value;
                }
                // Held until we want fresh numbers: returning it at once would have the
                // driver refill and resend it in a tight loop.
                statsHead_ = chain->head;
                continue;
            } else if (r == Role::Reporting) {
                for (auto buffer : chain->writable)
                    memory_.discard(buffer);
                for (auto buffer : chain->readable)
                    memory_.discard(buffer);
            }
        } catch (const Error& e) {
            throw VirtQueueError(name() + ": " + e.what());
        }
        queue->pushUsed(chain->head, 0);
        used = true;
    }
    if (used)
        host_->notifyUsed(index);
}

void VirtioBalloon::setTarget(uint64_t bytes)
{
    std::lock_guard lock(mutex());
    targetPages_ = static_cast<uint32_t>(std::min<uint64_t>(bytes / kPage, memory_.size() / kPage));
    if (host_)
        host_->configChanged();
}

uint64_t VirtioBalloon::actualBytes()
{
    std::lock_guard lock(mutex());
    return uint64_t{actualPages_} * kPage;
}

void VirtioBalloon::requestStatistics()
{
    std::lock_guard lock(mutex());
    VirtQueue* queue = host_ ? host_->queue(2) : nullptr;
    if (!queue || !statsHead_ || role(2) != Role::Stats)
        return;
    queue->pushUsed(*statsHead_, 0);
    statsHead_.reset();
    host_->notifyUsed(2);
}

std::map<uint16_t, uint64_t> VirtioBalloon::statistics()
{
    std::lock_guard lock(mutex());
    return stats_;
}

}  // namespace mica::virtio
