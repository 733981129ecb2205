// virtio-blk (virtio spec 5.2) over a DiskImage (any format): read, write, flush, get-id, discard
// and write-zeroes, on one or more request queues, read-only when asked.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "DiskImage.h"
#include "VirtioDevice.h"

namespace mica::virtio {

struct VirtioBlockOptions {
    std::string id;      // for messages: "disk 'ID'"
    std::string serial;  // VIRTIO_BLK_T_GET_ID, at most 20 bytes
    uint16_t queues = 1;
    bool discard = true;  // offer DISCARD (WRITE_ZEROES is offered on any writable disk)
};

class VirtioBlock : public VirtioDevice {
public:
    VirtioBlock(std::unique_ptr<block::DiskImage> image, const VirtioBlockOptions& options);

    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0x018000; }
    uint64_t deviceFeatures() const override;
    uint16_t queueCount() const override { return options_.queues; }
    void readConfig(uint64_t offset, std::span<uint8_t> data) override;
    void processQueue(uint16_t index) override;
    std::string name() const override { return "disk '" + options_.id + "'"; }
    Counters counters() const override;

private:
    // Serves one request; returns how many bytes it wrote into the chain.
    uint32_t handle(const DescriptorChain& chain);
    std::unique_ptr<block::DiskImage> image_;
    VirtioBlockOptions options_;
    std::vector<uint8_t> config_;
    std::atomic<uint64_t> readReqs_{0}, readBytes_{0}, writeReqs_{0}, writeBytes_{0}, flushReqs_{0}, errors_{0};
};

}  // namespace mica::virtio
