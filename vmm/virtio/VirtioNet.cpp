#include "VirtioNet.h"

#include <linux/if_tun.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "Tap.h"
#include "VirtioSpec.h"

namespace mica::virtio {

namespace {

constexpr unsigned kFeatureCsum = 0, kFeatureGuestCsum = 1, kFeatureMac = 5, kFeatureGuestTso4 = 7,
                   kFeatureGuestTso6 = 8, kFeatureGuestEcn = 9, kFeatureHostTso4 = 11, kFeatureHostTso6 = 12,
                   kFeatureHostEcn = 13, kFeatureCtrlVq = 17, kFeatureMq = 22, kFeatureMtu = 3;
constexpr size_t kMaxFrame = kVnetHeaderSize + 65535 + 14;

}  // namespace

VirtioNet::VirtioNet(std::vector<UniqueFd> taps, const VirtioNetOptions& options, EventLoop* loop)
    : options_(options), loop_(loop)
{
    for (auto& tap : taps) {
        pairs_.emplace_back();
        pairs_.back().tap = std::move(tap);
    }
}

VirtioNet::~VirtioNet()
{
    quiesce();
}

void VirtioNet::quiesce()
{
    if (loop_)
        for (auto& p : pairs_)
            if (p.polling)
                loop_->removeAndWait(p.tap.get());
    loop_ = nullptr;
}

void VirtioNet::pauseIo()
{
    if (!loop_)
        return;
    for (auto& p : pairs_)
        if (p.polling) {
            loop_->removeAndWait(p.tap.get());
            p.polling = false;
        }
}

uint16_t VirtioNet::deviceType() const
{
    return kTypeNet;
}

uint64_t VirtioNet::deviceFeatures() const
{
    // Guest-to-host offloads only need the TAP to accept what the header says; host-to-
    // guest ones are switched on at activation for what the driver took.
    uint64_t f = bit(kFeatureCsum) | bit(kFeatureGuestCsum) | bit(kFeatureGuestTso4) | bit(kFeatureGuestTso6) |
                 bit(kFeatureGuestEcn) | bit(kFeatureMac) | bit(kFeatureHostTso4) | bit(kFeatureHostTso6) |
                 bit(kFeatureHostEcn);
    if (multiqueue())
        f |= bit(kFeatureCtrlVq) | bit(kFeatureMq);
    if (options_.mtu)
        f |= bit(kFeatureMtu);
    return f;
}

uint16_t VirtioNet::queueCount() const
{
    return static_cast<uint16_t>(2 * pairs_.size() + (multiqueue() ? 1 : 0));
}

void VirtioNet::readConfig(uint64_t offset, std::span<uint8_t> data)
{
    uint8_t config[12] = {};
    std::memcpy(config, options_.mac.data(), 6);
    config[6] = 1;  // status: link up (read only with VIRTIO_NET_F_STATUS, harmless otherwise)
    config[8] = static_cast<uint8_t>(pairs_.size());
    uint16_t mtu = options_.mtu ? options_.mtu : 1500;  // read only with VIRTIO_NET_F_MTU
    config[10] = static_cast<uint8_t>(mtu);
    config[11] = static_cast<uint8_t>(mtu >> 8);
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < sizeof config ? config[offset + i] : 0;
}

// Runs on a vCPU thread, whose seccomp filter allows no TAP ioctls: the offloads are
// set, and the TAPs watched, when the transport's first kicks reach the devices thread.
void VirtioNet::activate(QueueHost& host)
{
    VirtioDevice::activate(host);
    offloadsPending_ = true;
}

void VirtioNet::applyOffloads()
{
    offloadsPending_ = false;
    // The TAP may hand the guest unchecksummed and then large (TSO) frames only once the
    // driver took those features; without MRG_RXBUF a driver taking GUEST_TSO* posts
    // receive buffers of 64 KiB, so a whole large frame fits in one.
    uint64_t driver = host_->driverFeatures();
    unsigned offloads = 0;
    if (driver & bit(kFeatureGuestCsum)) {
        offloads = TUN_F_CSUM;
        if (driver & bit(kFeatureGuestTso4))
            offloads |= TUN_F_TSO4;
        if (driver & bit(kFeatureGuestTso6))
            offloads |= TUN_F_TSO6;
        if (driver & bit(kFeatureGuestEcn))
            offloads |= TUN_F_TSO_ECN;
    }
    for (auto& p : pairs_) {
        try {
            setTapOffloads(p.tap.get(), offloads);
        } catch (const Error& e) {
            std::cerr << "mica-vmm: " << name() << ": " << e.what() << std::endl;
        }
    }
}

void VirtioNet::reset()
{
    for (size_t p = 0; p < pairs_.size(); ++p) {
        poll(p, false);
        pairs_[p].frame.clear();
    }
    VirtioDevice::reset();
}

// The TAP is watched only while the guest has receive buffers: a level-triggered fd
// nobody reads would spin the devices thread.
void VirtioNet::poll(size_t pair, bool on)
{
    Pair& p = pairs_[pair];
    if (!loop_ || p.polling == on)
        return;
    p.polling = on;
    if (!on) {
        loop_->remove(p.tap.get());
        return;
    }
    loop_->add(p.tap.get(), [this, pair] {
        std::lock_guard lock(mutex());
        try {
            receive(pair);
        } catch (const VirtQueueError& e) {
            // The driver's next kick on this queue meets the same chain and the
            // transport marks the device; until then stop reading.
            poll(pair, false);
        }
    });
}

void VirtioNet::processQueue(uint16_t index)
{
    if (!host_)
        return;
    if (offloadsPending_)
        applyOffloads();
    if (multiqueue() && index == 2 * pairs_.size()) {
        control();
        return;
    }
    size_t pair = index / 2;
    if (index % 2 == 0) {
        poll(pair, true);  // new receive buffers
        receive(pair);
    } else {
        transmit(pair);
    }
}

void VirtioNet::receive(size_t pair)
{
    Pair& p = pairs_[pair];
    VirtQueue* queue = host_ ? host_->queue(static_cast<uint16_t>(2 * pair)) : nullptr;
    if (!queue)
        return;
    bool used = false;
    for (;;) {
        if (p.frame.empty()) {
            p.frame.resize(kMaxFrame);
            ssize_t n = ::read(p.tap.get(), p.frame.data(), p.frame.size());
            if (n < static_cast<ssize_t>(kVnetHeaderSize)) {
                p.frame.clear();
                break;  // EAGAIN: nothing more for now
            }
            p.frame.resize(static_cast<size_t>(n));
            // num_buffers: without VIRTIO_NET_F_MRG_RXBUF every frame takes one buffer.
            p.frame[10] = 1;
            p.frame[11] = 0;
        }
        auto chain = queue->pop();
        if (!chain) {
            poll(pair, false);  // the frame waits for the guest's next receive buffers
            break;
        }
        ChainWriter writer(chain->writable);
        writer.write(p.frame);
        queue->pushUsed(chain->head, static_cast<uint32_t>(writer.written()));
        rxPackets_.fetch_add(1, std::memory_order_relaxed);
        rxBytes_.fetch_add(p.frame.size() - kVnetHeaderSize, std::memory_order_relaxed);
        p.frame.clear();
        used = true;
    }
    if (used)
        host_->notifyUsed(static_cast<uint16_t>(2 * pair));
}

void VirtioNet::transmit(size_t pair)
{
    VirtQueue* queue = host_->queue(static_cast<uint16_t>(2 * pair + 1));
    if (!queue)
        return;
    bool used = false;
    while (auto chain = queue->pop()) {
        std::vector<iovec> iov;
        size_t bytes = 0;
        for (auto b : chain->readable)
            if (!b.empty()) {
                iov.push_back({b.data(), b.size()});
                bytes += b.size();
            }
        // A full TAP queue drops the frame, as a busy wire would; TCP resends.
        if (!iov.empty() && iov.size() <= IOV_MAX && bytes > kVnetHeaderSize &&
            ::writev(pairs_[pair].tap.get(), iov.data(), static_cast<int>(iov.size())) > 0) {
            txPackets_.fetch_add(1, std::memory_order_relaxed);
            txBytes_.fetch_add(bytes - kVnetHeaderSize, std::memory_order_relaxed);
        } else {
            txDrops_.fetch_add(1, std::memory_order_relaxed);
        }
        queue->pushUsed(chain->head, 0);
        used = true;
    }
    if (used)
        host_->notifyUsed(static_cast<uint16_t>(2 * pair + 1));
}

// Control queue commands (5.1.6.5): the TAP already passes every frame to the guest
// (promiscuous, all multicast) and the TAP queues all stay on, so every command is
// acknowledged as done.
void VirtioNet::control()
{
    auto index = static_cast<uint16_t>(2 * pairs_.size());
    VirtQueue* queue = host_->queue(index);
    if (!queue)
        return;
    bool used = false;
    while (auto chain = queue->pop()) {
        if (chain->writable.empty() || chain->writable.back().empty())
            throw VirtQueueError(name() + ": control command without an ack byte");
        chain->writable.back().back() = 0;  // VIRTIO_NET_OK
        queue->pushUsed(chain->head, 1);
        used = true;
    }
    if (used)
        host_->notifyUsed(index);
}

VirtioDevice::Counters VirtioNet::counters() const
{
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return {{"rx_bytes", get(rxBytes_)}, {"rx_packets", get(rxPackets_)}, {"tx_bytes", get(txBytes_)},
            {"tx_packets", get(txPackets_)}, {"tx_drops", get(txDrops_)}};
}

}  // namespace mica::virtio
