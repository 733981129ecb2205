// virtio-blk (virtio spec 5.2) over a DiskImage (any format): read, write, flush, get-id, discard
// and write-zeroes, on one or more request queues, read-only when asked. On an event
// loop (the disk's I/O thread) the requests go to the disk's IoEngine (io_uring or
// worker threads), several in flight, and complete in the order they finish, one
// interrupt per batch; without one (unit tests, the fuzzer) each is served as it is
// popped. Under I/O limits (an IoThrottle) reads and writes that must wait are held,
// each direction in order, until a timer on the loop lets them go.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "DiskImage.h"
#include "EventLoop.h"
#include "IoEngine.h"
#include "IoThrottle.h"
#include "UniqueFd.h"
#include "VirtioDevice.h"

namespace mica::virtio {

struct VirtioBlockOptions {
    std::string id;      // for messages: "disk 'ID'"
    std::string serial;  // VIRTIO_BLK_T_GET_ID, at most 20 bytes
    uint16_t queues = 1;
    bool discard = true;  // offer DISCARD (WRITE_ZEROES is offered on any writable disk)
    unsigned workers = 4;  // worker threads, on an event loop
    block::IoEngineKind ioEngine = block::IoEngineKind::Auto;
    IoLimits limits{};  // needs an event loop when it limits anything
};

class VirtioBlock : public VirtioDevice {
public:
    // `loop`: where completions are delivered; `workerStart` runs first on each worker
    // thread (named like the loop's thread, plus "w"). Throws Error when the engine
    // asked for cannot serve this image.
    VirtioBlock(std::unique_ptr<block::DiskImage> image, const VirtioBlockOptions& options, EventLoop* loop = nullptr,
                const std::string& threadName = "", std::function<void()> workerStart = {});
    ~VirtioBlock() override;

    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0x018000; }
    uint64_t deviceFeatures() const override;
    uint16_t queueCount() const override { return options_.queues; }
    void readConfig(uint64_t offset, std::span<uint8_t> data) override;
    void processQueue(uint16_t index) override;
    void reset() override;
    void quiesce() override;
    void pauseIo() override;
    std::string name() const override { return "disk '" + options_.id + "'"; }
    Counters counters() const override;
    // The engine serving its requests ("io_uring", "threads"), or null without a loop.
    const char* ioEngine() const { return engine_ ? block::ioEngineName(engine_->kind()) : nullptr; }
    // New I/O limits, now (vm.disk-iotune); throws Error when they limit anything and
    // the device has no event loop.
    void setIoLimits(const IoLimits& limits);
    // vm.resize-disk: the image grows to `bytes` (DiskImage::resize) with no request in
    // flight, and the guest is told its new capacity (the configuration interrupt).
    void resize(uint64_t bytes);
    // A change of the image's chain (a disk-only snapshot, a commit's pivot): `change`
    // runs with no request in flight, then the engine is opened again for what the
    // chain now is (io_uring reads and writes a raw top's file itself, and nothing else).
    void changeImage(const std::function<void()>& change);
    block::DiskImage& image() { return *image_; }

private:
    struct Request;
    struct DataRequest;
    // Serves one request; returns how many bytes it wrote into the chain. Malformed
    // chains were refused by checkShape() first.
    uint32_t handle(const DescriptorChain& chain);
    // Hands one request to the engine; its completion goes to the used ring.
    void start(uint16_t index, DescriptorChain chain);
    // A request held by the limits: its queue and chain, and its bytes.
    struct Held {
        uint16_t queue;
        DescriptorChain chain;
        uint64_t bytes;
        bool counted = false;  // in throttled_ (it had to wait)
    };
    // With the mutex held: true when the limits hold the request (it is then theirs).
    bool hold(uint16_t index, DescriptorChain& chain);
    // With the mutex held: starts held requests as far as the limits allow now (all of
    // them when `all`), and sets the timer for the next.
    void release(bool all = false);
    void checkShape(const DescriptorChain& chain) const;
    Request split(const DescriptorChain& chain) const;
    // A read, write or flush, checked (range, read-only; RequestError), or nothing for
    // the other types.
    std::optional<DataRequest> dataRequest(const Request& request) const;
    // The status and counters of a read, write or flush that ended with `error` (empty:
    // done); returns the bytes written into the chain.
    uint32_t finish(const DataRequest& request, const std::string& error);
    // get-id, discard, write-zeroes and unknown types.
    uint32_t handleOther(const Request& request);
    // Throws RequestError when [sector, + bytes) is not all on the disk.
    void checkRange(uint64_t sector, uint64_t bytes) const;
    // On the loop: the finished requests go to the used rings, one interrupt per queue.
    void completeFinished();
    void notifyCompleted();
    std::unique_ptr<block::DiskImage> image_;
    VirtioBlockOptions options_;
    std::vector<uint8_t> config_;
    EventLoop* loop_;
    std::unique_ptr<block::IoEngine> engine_;
    std::string workerName_;               // the engine's workers, and
    std::function<void()> workerStart_;    // what they run first: for changeImage()
    uint64_t completedQueues_ = 0;  // queues used since the last notifyCompleted(), a bit each
    block::IoThrottle throttle_;
    std::deque<Held> held_[2];  // reads, writes
    UniqueFd timer_;            // a timerfd on the loop: when held requests may go
    std::atomic<uint64_t> readReqs_{0}, readBytes_{0}, writeReqs_{0}, writeBytes_{0}, flushReqs_{0}, errors_{0},
        throttled_{0};
};

}  // namespace mica::virtio
