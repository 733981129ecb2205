// virtio-net (virtio spec 5.1) on a TAP: one receive/transmit queue pair per TAP fd,
// plus a control queue when there are several pairs (VIRTIO_NET_F_MQ). Frames carry
// the virtio-net header straight through to the TAP, so the guest's checksum and TSO
// offloads reach the host kernel unchanged.
#pragma once

#include <array>
#include <atomic>
#include <vector>

#include "EventLoop.h"
#include "UniqueFd.h"
#include "VirtioDevice.h"

namespace mica::virtio {

struct VirtioNetOptions {
    std::string id = "net0";
    std::array<uint8_t, 6> mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    uint16_t mtu = 0;  // 0: VIRTIO_NET_F_MTU not offered
};

class VirtioNet : public VirtioDevice {
public:
    VirtioNet(std::vector<UniqueFd> taps, const VirtioNetOptions& options, EventLoop* loop);
    ~VirtioNet() override;

    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0x020000; }
    uint64_t deviceFeatures() const override;
    uint16_t queueCount() const override;
    void readConfig(uint64_t offset, std::span<uint8_t> data) override;
    void activate(QueueHost& host) override;
    void processQueue(uint16_t index) override;
    void reset() override;
    void quiesce() override;
    // Stops reading the TAP: frames wait in its queue (or the TAP drops them) and
    // none is written into guest memory. The next receive kick watches it again.
    void pauseIo() override;
    std::string name() const override { return "net '" + options_.id + "'"; }
    Counters counters() const override;

private:
    struct Pair {
        UniqueFd tap;
        bool polling = false;
        std::vector<uint8_t> frame;  // read from the TAP, waiting for a receive buffer
    };
    void receive(size_t pair);
    void transmit(size_t pair);
    void control();
    void poll(size_t pair, bool on);
    void applyOffloads();
    bool multiqueue() const { return pairs_.size() > 1; }

    std::vector<Pair> pairs_;
    VirtioNetOptions options_;
    EventLoop* loop_;
    bool offloadsPending_ = false;
    // Frames and their bytes without the virtio-net header, as the guest sees them.
    std::atomic<uint64_t> rxPackets_{0}, rxBytes_{0}, txPackets_{0}, txBytes_{0}, txDrops_{0};
};

}  // namespace mica::virtio
