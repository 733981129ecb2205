#include "VirtioBlock.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>

#include "Error.h"
#include "VirtioSpec.h"
#include "i18n.h"

namespace mica::virtio {

namespace {

constexpr unsigned kFeatureSegMax = 2, kFeatureRo = 5, kFeatureBlkSize = 6, kFeatureFlush = 9, kFeatureMq = 12,
                   kFeatureDiscard = 13, kFeatureWriteZeroes = 14;
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8, kTypeDiscard = 11, kTypeWriteZeroes = 13;
constexpr uint8_t kStatusOk = 0, kStatusIoErr = 1, kStatusUnsupported = 2;
constexpr uint64_t kSector = 512;
constexpr uint32_t kSegMax = 126;
constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per segment
constexpr uint32_t kMaxDiscardSegments = 16;

struct RequestHeader {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct DiscardSegment {
    uint64_t sector;
    uint32_t sectors;
    uint32_t flags;
};

template <typename T>
void put(std::vector<uint8_t>& config, size_t offset, T value)
{
    std::memcpy(config.data() + offset, &value, sizeof value);
}

class RequestError : public std::runtime_error {
public:
    RequestError(uint8_t status, const std::string& why) : std::runtime_error(why), status(status) {}
    uint8_t status;
};

uint64_t monotonicNs()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

}  // namespace

VirtioBlock::VirtioBlock(std::unique_ptr<block::DiskImage> image, const VirtioBlockOptions& options, EventLoop* loop,
                         const std::string& threadName, std::function<void()> workerStart)
    : image_(std::move(image)), options_(options), config_(60, 0), loop_(loop), workerName_(threadName + "w"),
      workerStart_(std::move(workerStart))
{
    if (loop_) {
        engine_ = block::openIoEngine(options_.ioEngine, *image_, workerName_, options_.workers, workerStart_);
        for (int fd : engine_->eventFds())
            loop_->add(fd, [this] { completeFinished(); });
        timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
        if (!timer_)
            throw systemError("timerfd_create");
        loop_->add(timer_.get(), [this] {
            uint64_t expirations;
            (void)!::read(timer_.get(), &expirations, sizeof expirations);
            std::lock_guard lock(mutex());
            completedQueues_ = 0;
            release();
            notifyCompleted();
        });
    }
    setIoLimits(options_.limits);
    put<uint64_t>(config_, 0, image_->size() / kSector);  // capacity
    put<uint32_t>(config_, 12, kSegMax);                  // seg_max
    put<uint32_t>(config_, 20, 512);                      // blk_size
    put<uint16_t>(config_, 34, options_.queues);          // num_queues
    put<uint32_t>(config_, 36, kMaxDiscardSectors);
    put<uint32_t>(config_, 40, kMaxDiscardSegments);
    put<uint32_t>(config_, 44, 1);                        // discard_sector_alignment
    put<uint32_t>(config_, 48, kMaxDiscardSectors);       // max_write_zeroes_sectors
    put<uint32_t>(config_, 52, kMaxDiscardSegments);
    config_[56] = 1;                                       // write_zeroes_may_unmap
}

uint16_t VirtioBlock::deviceType() const
{
    return kTypeBlock;
}

uint64_t VirtioBlock::deviceFeatures() const
{
    uint64_t f = bit(kFeatureSegMax) | bit(kFeatureBlkSize) | bit(kFeatureFlush);
    if (options_.queues > 1)
        f |= bit(kFeatureMq);
    if (image_->readOnly())
        f |= bit(kFeatureRo);
    else
        f |= (options_.discard ? bit(kFeatureDiscard) : 0) | bit(kFeatureWriteZeroes);
    return f;
}

void VirtioBlock::readConfig(uint64_t offset, std::span<uint8_t> data)
{
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < config_.size() ? config_[offset + i] : 0;
}

VirtioBlock::~VirtioBlock()
{
    quiesce();
}

void VirtioBlock::checkShape(const DescriptorChain& chain) const
{
    // The last writable byte is the status; a chain without one is malformed.
    if (chain.writable.empty() || chain.writable.back().empty())
        throw VirtQueueError(name() + ": " + _("request without a status byte"));
    if (chain.readableBytes() < sizeof(RequestHeader))
        throw VirtQueueError(name() + ": " + _("request header too short"));
}

// A request's parts: its header, its status byte, the buffers the device writes (the
// status byte left out) and those after the header it reads.
struct VirtioBlock::Request {
    uint32_t type;
    uint64_t sector;
    uint8_t* status;
    std::vector<std::span<uint8_t>> in, out;
};

struct VirtioBlock::DataRequest {
    uint32_t type;
    uint64_t offset;
    std::vector<iovec> iov;
    uint64_t bytes;
    uint8_t* status;
};

void VirtioBlock::processQueue(uint16_t index)
{
    VirtQueue* queue = host_ ? host_->queue(index) : nullptr;
    if (!queue)
        return;
    completedQueues_ = 0;
    // What went to the engine goes to the kernel even when a bad chain ends the loop
    // (the reset that follows waits for it).
    struct Kick {
        block::IoEngine* engine;
        ~Kick()
        {
            if (engine)
                engine->kick();
        }
    } kick{engine_.get()};
    while (auto chain = queue->pop()) {
        checkShape(*chain);
        if (!engine_) {
            queue->pushUsed(chain->head, handle(*chain));
            completedQueues_ |= uint64_t(1) << index;
            continue;
        }
        if (!hold(index, *chain))
            start(index, std::move(*chain));
    }
    release();
    notifyCompleted();
}

bool VirtioBlock::hold(uint16_t index, DescriptorChain& chain)
{
    if (!throttle_.limited())
        return false;
    // Reads and writes count their bytes; a write-zeroes counts as one write of none
    // (it moves no data). Flush, get-id and discard are not limited, as under QEMU.
    Request request = split(chain);
    uint64_t bytes = 0;
    size_t direction;
    if (request.type == kTypeIn || request.type == kTypeOut) {
        for (auto s : request.type == kTypeIn ? request.in : request.out)
            bytes += s.size();
        direction = request.type == kTypeIn ? 0 : 1;
    } else if (request.type == kTypeWriteZeroes) {
        direction = 1;
    } else {
        return false;
    }
    held_[direction].push_back({index, std::move(chain), bytes});
    return true;
}

void VirtioBlock::release(bool all)
{
    if (!engine_)
        return;
    uint64_t now = monotonicNs(), next = 0;
    for (size_t d = 0; d < 2; ++d) {
        auto direction = d == 0 ? IoDirection::Read : IoDirection::Write;
        auto& held = held_[d];
        while (!held.empty()) {
            uint64_t wait = all ? 0 : throttle_.wait(direction, now);
            if (wait) {
                next = next ? std::min(next, wait) : wait;
                for (auto it = held.rbegin(); it != held.rend() && !it->counted; ++it) {
                    it->counted = true;
                    throttled_.fetch_add(1, std::memory_order_relaxed);
                }
                break;
            }
            throttle_.account(direction, held.front().bytes);
            start(held.front().queue, std::move(held.front().chain));
            held.pop_front();
        }
    }
    engine_->kick();
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(next / 1000000000);
    when.it_value.tv_nsec = static_cast<long>(next % 1000000000);
    ::timerfd_settime(timer_.get(), 0, &when, nullptr);  // 0: disarmed
}

void VirtioBlock::setIoLimits(const IoLimits& limits)
{
    if (limits.limited() && !engine_)
        throw Error(name() + ": " + _("I/O limits need the disk's I/O thread"));
    std::lock_guard lock(mutex());
    throttle_.set(limits, monotonicNs());
    options_.limits = limits;
    completedQueues_ = 0;
    release();
    notifyCompleted();
}

void VirtioBlock::resize(uint64_t bytes)
{
    std::lock_guard lock(mutex());
    if (bytes % kSector)
        throw Error(name() + ": " + _("the new size must be a multiple of 512 bytes"));
    if (engine_)
        engine_->waitIdle();  // none may check a request against the old size
    image_->resize(bytes);
    put<uint64_t>(config_, 0, image_->size() / kSector);
    if (host_)
        host_->configChanged();
}

void VirtioBlock::changeImage(const std::function<void()>& change)
{
    std::lock_guard lock(mutex());
    if (!engine_) {
        change();
        return;
    }
    // What is in flight ends and reaches the used rings before the chain changes; new
    // requests wait for the mutex.
    engine_->waitIdle();
    completedQueues_ = 0;
    engine_->complete();
    notifyCompleted();
    change();
    auto engine = block::openIoEngine(options_.ioEngine, *image_, workerName_, options_.workers, workerStart_);
    // A completion callback of the old engine may still run once: it completes the new
    // one's, harmlessly (remove(), not removeAndWait(): that callback waits for our mutex).
    for (int fd : engine_->eventFds())
        loop_->remove(fd);
    for (int fd : engine->eventFds())
        loop_->add(fd, [this] { completeFinished(); });
    engine_ = std::move(engine);
}

void VirtioBlock::start(uint16_t index, DescriptorChain chain)
{
    // The chain's buffers are guest memory, which outlives every request: reset, pause
    // and teardown wait for the engine first.
    auto used = [this, index, head = chain.head](uint32_t written) {
        if (VirtQueue* q = host_ ? host_->queue(index) : nullptr) {
            q->pushUsed(head, written);
            completedQueues_ |= uint64_t(1) << index;
        }
    };
    Request request = split(chain);
    std::optional<DataRequest> data;
    try {
        data = dataRequest(request);
    } catch (const RequestError& e) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        *request.status = e.status;
        used(1);
        return;
    }
    if (!data) {
        auto written = std::make_shared<uint32_t>(0);
        engine_->submit([this, chain = std::move(chain), written] { *written = handle(chain); },
                        [used, written] { used(*written); });
        return;
    }
    uint32_t type = data->type;
    uint64_t offset = data->offset;
    auto iov = std::move(data->iov);  // finish() needs the rest only
    auto done = [this, data = std::move(*data), used](const std::string& error) { used(finish(data, error)); };
    switch (type) {
    case kTypeIn: engine_->readv(offset, std::move(iov), std::move(done)); break;
    case kTypeOut: engine_->writev(offset, std::move(iov), std::move(done)); break;
    default: engine_->flush(std::move(done)); break;
    }
}

void VirtioBlock::completeFinished()
{
    std::lock_guard lock(mutex());
    completedQueues_ = 0;
    engine_->complete();
    notifyCompleted();
}

void VirtioBlock::notifyCompleted()
{
    for (uint16_t index = 0; index < 64; ++index)
        if (completedQueues_ & (uint64_t(1) << index) && host_)
            host_->notifyUsed(index);
}

void VirtioBlock::reset()
{
    // With the device's mutex held: the engine takes no lock of the device, so what is
    // in flight ends; it was for queues the driver just let go.
    if (engine_) {
        held_[0].clear();
        held_[1].clear();
        engine_->cancel();
    }
    VirtioDevice::reset();
}

void VirtioBlock::pauseIo()
{
    // Nothing in flight while paused, and what finished is in the used rings (so a
    // snapshot holds it).
    if (engine_) {
        {
            // What the limits hold goes now: a snapshot has no place for popped requests.
            std::lock_guard lock(mutex());
            completedQueues_ = 0;
            release(true);
            notifyCompleted();
        }
        engine_->waitIdle();
        completeFinished();
    }
    // And the image's file is whole: what the image caches (qcow2 metadata) is written
    // and synced, as a guest's FLUSH would, so a snapshot of the VM (or a copy of the
    // image taken while paused) finds a consistent image.
    if (!image_->readOnly()) {
        try {
            image_->flush();
        } catch (const std::exception& e) {
            std::cerr << "mica-vmm: " << name() << ": " << e.what() << std::endl;
        }
    }
}

void VirtioBlock::quiesce()
{
    if (!engine_ || !loop_)
        return;
    loop_->removeAndWait(timer_.get());
    {
        std::lock_guard lock(mutex());
        held_[0].clear();
        held_[1].clear();
    }
    engine_->cancel();
    for (int fd : engine_->eventFds())
        loop_->removeAndWait(fd);
    loop_ = nullptr;
}

VirtioBlock::Request VirtioBlock::split(const DescriptorChain& chain) const
{
    Request request;
    request.in = chain.writable;
    request.status = &request.in.back().back();
    request.in.back() = request.in.back().first(request.in.back().size() - 1);
    ChainReader reader(chain.readable);
    RequestHeader header{};
    reader.read({reinterpret_cast<uint8_t*>(&header), sizeof header});  // checkShape() saw it whole
    request.type = header.type;
    request.sector = header.sector;
    request.out = reader.rest();
    return request;
}

std::optional<VirtioBlock::DataRequest> VirtioBlock::dataRequest(const Request& request) const
{
    auto toIovecs = [](const std::vector<std::span<uint8_t>>& spans, uint64_t& total) {
        std::vector<iovec> iov;
        total = 0;
        for (auto s : spans) {
            if (s.empty())
                continue;
            iov.push_back({s.data(), s.size()});
            total += s.size();
        }
        return iov;
    };
    DataRequest data{request.type, request.sector * kSector, {}, 0, request.status};
    switch (request.type) {
    case kTypeIn:
        data.iov = toIovecs(request.in, data.bytes);
        break;
    case kTypeOut:
        if (image_->readOnly())
            throw RequestError(kStatusIoErr, "write to a read-only disk");
        data.iov = toIovecs(request.out, data.bytes);
        break;
    case kTypeFlush:
        return data;
    default:
        return std::nullopt;
    }
    checkRange(request.sector, data.bytes);
    return data;
}

void VirtioBlock::checkRange(uint64_t sector, uint64_t bytes) const
{
    uint64_t capacity = image_->size() / kSector;
    if (sector > capacity || bytes / kSector + (bytes % kSector ? 1 : 0) > capacity - sector)
        throw RequestError(kStatusIoErr, "request past the end of the disk");
}

uint32_t VirtioBlock::finish(const DataRequest& request, const std::string& error)
{
    if (!error.empty()) {
        // The host failed (EIO, ENOSPC): the guest sees an I/O error, the log says why.
        std::cerr << "mica-vmm: " << name() << ": " << error << std::endl;
        errors_.fetch_add(1, std::memory_order_relaxed);
        *request.status = kStatusIoErr;
        return 1;
    }
    switch (request.type) {
    case kTypeIn:
        readReqs_.fetch_add(1, std::memory_order_relaxed);
        readBytes_.fetch_add(request.bytes, std::memory_order_relaxed);
        break;
    case kTypeOut:
        writeReqs_.fetch_add(1, std::memory_order_relaxed);
        writeBytes_.fetch_add(request.bytes, std::memory_order_relaxed);
        break;
    default:
        flushReqs_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    *request.status = kStatusOk;
    return request.type == kTypeIn ? static_cast<uint32_t>(request.bytes) + 1 : 1;
}

uint32_t VirtioBlock::handle(const DescriptorChain& chain)
{
    Request request = split(chain);
    try {
        if (auto data = dataRequest(request)) {
            std::string error;
            try {
                switch (data->type) {
                case kTypeIn: image_->readv(data->offset, data->iov); break;
                case kTypeOut: image_->writev(data->offset, data->iov); break;
                default: image_->flush(); break;
                }
            } catch (const std::exception& e) {
                error = e.what();
            }
            return finish(*data, error);
        }
        return handleOther(request);
    } catch (const RequestError& e) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        *request.status = e.status;
    } catch (const std::exception& e) {
        // The host failed (EIO, ENOSPC, out of memory): the guest sees an I/O error, the
        // log says why.
        std::cerr << "mica-vmm: " << name() << ": " << e.what() << std::endl;
        errors_.fetch_add(1, std::memory_order_relaxed);
        *request.status = kStatusIoErr;
    }
    return 1;
}

uint32_t VirtioBlock::handleOther(const Request& request)
{
    uint32_t written = 0;
    switch (request.type) {
    case kTypeGetId: {
        uint8_t id[20] = {};
        std::memcpy(id, options_.serial.data(), std::min<size_t>(20, options_.serial.size()));
        ChainWriter writer(request.in);
        written = static_cast<uint32_t>(writer.write(id));
        break;
    }
    case kTypeDiscard:
    case kTypeWriteZeroes: {
        if (image_->readOnly())
            throw RequestError(kStatusIoErr, "discard on a read-only disk");
        ChainReader reader(request.out);
        DiscardSegment segment{};
        unsigned count = 0;
        while (reader.read({reinterpret_cast<uint8_t*>(&segment), sizeof segment}) == sizeof segment) {
            if (++count > kMaxDiscardSegments || segment.sectors > kMaxDiscardSectors)
                throw RequestError(kStatusUnsupported, "too many or too large discard segments");
            checkRange(segment.sector, uint64_t{segment.sectors} * kSector);
            if (request.type == kTypeDiscard)
                image_->discard(segment.sector * kSector, uint64_t{segment.sectors} * kSector);
            else
                image_->writeZeroes(segment.sector * kSector, uint64_t{segment.sectors} * kSector);
        }
        break;
    }
    default:
        *request.status = kStatusUnsupported;
        return 1;
    }
    *request.status = kStatusOk;
    return written + 1;
}

VirtioDevice::Counters VirtioBlock::counters() const
{
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    return {{"rd_reqs", get(readReqs_)},   {"rd_bytes", get(readBytes_)}, {"wr_reqs", get(writeReqs_)},
            {"wr_bytes", get(writeBytes_)}, {"flush_reqs", get(flushReqs_)}, {"errors", get(errors_)},
            {"throttled_reqs", get(throttled_)}};
}

}  // namespace mica::virtio
