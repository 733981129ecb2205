// A split virtqueue (virtio 1.x 2.7) in guest memory, from the device side: taking
// descriptor chains off the available ring and returning them on the used ring, with
// the event-index notification suppression of VIRTIO_F_EVENT_IDX.
//
// Everything the guest wrote is untrusted: every address goes through GuestMemory's
// bounds checks, chains are bounded by the queue size (no loops), and any violation
// throws VirtQueueError, which the transport turns into DEVICE_NEEDS_RESET.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "Error.h"
#include "GuestMemory.h"

namespace mica::virtio {

class VirtQueueError : public Error {
public:
    using Error::Error;
};

struct QueueLayout {
    uint16_t size = 0;  // a power of two, at most 32768
    uint64_t descTable = 0, availRing = 0, usedRing = 0;
};

// One descriptor chain: the device-readable buffers, then the device-writable ones,
// each already resolved to host memory.
struct DescriptorChain {
    uint16_t head = 0;
    std::vector<std::span<uint8_t>> readable;
    std::vector<std::span<uint8_t>> writable;
    uint64_t readableBytes() const;
    uint64_t writableBytes() const;
};

class VirtQueue {
public:
    // Throws VirtQueueError when the rings do not fit in RAM or are misaligned.
    VirtQueue(const GuestMemory& memory, const QueueLayout& layout, bool eventIdx, bool indirect);

    // The next available chain, or nothing when the driver has not offered more.
    std::optional<DescriptorChain> pop();
    // Whether pop() would find a chain (without taking it or asking for a kick).
    bool hasAvailable() const { return availIdx() != lastAvail_; }
    // Returns a chain to the driver with `written` bytes written into its buffers.
    void pushUsed(uint16_t head, uint32_t written);
    // Whether the driver wants an interrupt for what was used since the last call.
    bool needsInterrupt();
    uint16_t size() const { return layout_.size; }
    // Where the device is in the rings, for snapshots: set on a queue built over the same
    // layout in restored guest memory.
    struct Position {
        uint16_t lastAvail, usedIdx, signalledUsed;
        bool signalledValid;
    };
    Position position() const { return {lastAvail_, usedIdx_, signalledUsed_, signalledValid_}; }
    void setPosition(const Position& p)
    {
        lastAvail_ = p.lastAvail, usedIdx_ = p.usedIdx, signalledUsed_ = p.signalledUsed, signalledValid_ = p.signalledValid;
    }

    // Walks the chain starting at `head` in `table` (exposed for the fuzzer and tests).
    static DescriptorChain walk(const GuestMemory& memory, uint64_t table, uint16_t tableSize, uint16_t head,
                                bool indirectAllowed);

private:
    uint16_t availIdx() const;
    const GuestMemory& memory_;
    QueueLayout layout_;
    bool eventIdx_, indirect_;
    uint16_t* availIdxPtr_;
    const uint16_t* availRing_;
    const uint16_t* usedEvent_;
    const uint16_t* availFlags_;
    uint16_t* usedIdxPtr_;
    uint8_t* usedRing_;
    uint16_t* availEvent_;
    uint16_t lastAvail_ = 0;
    uint16_t usedIdx_ = 0;
    uint16_t signalledUsed_ = 0;
    bool signalledValid_ = false;
};

}  // namespace mica::virtio
