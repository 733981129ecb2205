// A virtio device type (blk, rng, console, ...) as the transport sees it: feature bits,
// configuration space, queues to serve. The transport owns the queues and the
// interrupts; it holds the device's mutex around every call below.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "VirtQueue.h"

namespace mica::virtio {

// What a device may ask of its transport while serving its queues.
class QueueHost {
public:
    virtual ~QueueHost() = default;
    // The enabled queue `index`, or null when the driver left it off.
    virtual VirtQueue* queue(uint16_t index) = 0;
    // Raises the queue's interrupt if the driver wants one for what was used.
    virtual void notifyUsed(uint16_t index) = 0;
    // The feature bits the driver accepted.
    virtual uint64_t driverFeatures() const = 0;
    // The device configuration changed: raise the configuration interrupt.
    virtual void configChanged() = 0;
};

class VirtioDevice {
public:
    virtual ~VirtioDevice() = default;
    virtual uint16_t deviceType() const = 0;
    virtual uint32_t pciClass() const = 0;
    // Device-specific feature bits (the transport adds VERSION_1, EVENT_IDX, INDIRECT_DESC).
    virtual uint64_t deviceFeatures() const = 0;
    virtual uint16_t queueCount() const = 0;
    virtual uint16_t queueMaxSize() const { return 256; }
    virtual void readConfig(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void writeConfig(uint64_t /*offset*/, std::span<const uint8_t> /*data*/) {}
    // The driver set DRIVER_OK: the queues are ready.
    virtual void activate(QueueHost& host) { host_ = &host; }
    // The driver kicked queue `index` (or, for input devices, data arrived). May throw
    // VirtQueueError: the transport then marks the device as needing a reset.
    virtual void processQueue(uint16_t index) = 0;
    // The driver reset the device: forget the queues.
    virtual void reset() { host_ = nullptr; }
    // The transport is going away (the device, shared, may outlive it): leave every event
    // loop, waiting for a running callback, since callbacks use the transport's queues.
    // Called without the device's mutex (the callbacks take it); no callback runs after.
    virtual void quiesce() {}
    // Pause: stop every I/O of its own (fds it watches, input it is handed) until
    // resumeIo(), so nothing reaches guest memory or raises an interrupt meanwhile.
    // Called without the device's mutex, with no doorbell callback running.
    virtual void pauseIo() {}
    virtual void resumeIo() {}
    // What a snapshot keeps beyond the transport's state (queues, features, status):
    // null for devices whose configuration is all in the VM config.
    virtual nlohmann::json save() { return nullptr; }
    // Called with the device's mutex held, after activate() when the driver had set
    // DRIVER_OK. Throws StateError.
    virtual void restore(const nlohmann::json& /*state*/) {}
    // A short name for errors and logs, such as "disk 'vda'".
    virtual std::string name() const = 0;
    // I/O counters for vm.counters (and libvirt's block/interface statistics), read
    // from any thread while the device runs: name, value.
    using Counters = std::vector<std::pair<const char*, uint64_t>>;
    virtual Counters counters() const { return {}; }

    std::mutex& mutex() { return mutex_; }

protected:
    QueueHost* host_ = nullptr;  // set while active

private:
    std::mutex mutex_;
};

// Copies bytes into and out of a chain's buffers as one stream.
class ChainWriter {
public:
    explicit ChainWriter(std::span<const std::span<uint8_t>> buffers) : buffers_(buffers) {}
    // Writes as much of `bytes` as fits; returns how much did.
    size_t write(std::span<const uint8_t> bytes);
    size_t written() const { return written_; }

private:
    std::span<const std::span<uint8_t>> buffers_;
    size_t index_ = 0, offset_ = 0, written_ = 0;
};

class ChainReader {
public:
    explicit ChainReader(std::span<const std::span<uint8_t>> buffers) : buffers_(buffers) {}
    // Reads up to `out.size()` bytes; returns how many there were.
    size_t read(std::span<uint8_t> out);
    // The buffers not consumed yet (the first one trimmed).
    std::vector<std::span<uint8_t>> rest() const;

private:
    std::span<const std::span<uint8_t>> buffers_;
    size_t index_ = 0, offset_ = 0;
};

}  // namespace mica::virtio
