// virtio-balloon (virtio spec 5.5): the host sets a target (num_pages), the guest
// inflates (gives pages back: punched out of the memfd, so the host really gets them)
// or deflates; a statistics queue and free page reporting (VIRTIO_BALLOON_F_REPORTING,
// reported pages are punched out too) when asked for. vm.resize sets the target.
#pragma once

#include <map>
#include <optional>

#include "GuestMemory.h"
#include "VirtioDevice.h"

namespace mica::virtio {

class VirtioBalloon : public VirtioDevice {
public:
    VirtioBalloon(const GuestMemory& memory, uint64_t targetBytes, bool freePageReporting, bool deflateOnOom);

    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0xff0000; }
    uint64_t deviceFeatures() const override;
    uint16_t queueCount() const override { return reporting_ ? 4 : 3; }
    void readConfig(uint64_t offset, std::span<uint8_t> data) override;
    void writeConfig(uint64_t offset, std::span<const uint8_t> data) override;
    void activate(QueueHost& host) override;
    // The target the host set and the size the guest reported.
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;
    void processQueue(uint16_t index) override;
    std::string name() const override { return "balloon"; }

    // Sets the balloon's size (what the guest should give back), in bytes.
    void setTarget(uint64_t bytes);
    uint64_t actualBytes();
    // Asks the guest for fresh statistics (they arrive on the statistics queue).
    void requestStatistics();
    // The guest's last statistics (tag -> value), see VIRTIO_BALLOON_S_*.
    std::map<uint16_t, uint64_t> statistics();

private:
    enum class Role { Inflate, Deflate, Stats, Reporting, None };
    Role role(uint16_t index) const;
    void release(uint64_t gpa, uint64_t length);

    const GuestMemory& memory_;
    bool reporting_;
    bool deflateOnOom_;
    uint32_t targetPages_;
    uint32_t actualPages_ = 0;
    std::map<uint16_t, uint64_t> stats_;
    std::optional<uint16_t> statsHead_;
};

}  // namespace mica::virtio
