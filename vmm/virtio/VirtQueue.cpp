#include "VirtQueue.h"

#include <atomic>
#include <cstring>

#include "VirtioSpec.h"
#include "i18n.h"

namespace mica::virtio {

namespace {

struct RawDescriptor {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(RawDescriptor) == 16);

template <typename T>
T* at(const GuestMemory& memory, uint64_t gpa, uint64_t length, const char* what)
{
    if (!memory.contains(gpa, length))
        throw VirtQueueError(std::string(what) + _(" lies outside guest RAM"));
    return reinterpret_cast<T*>(memory.slice(gpa, length).data());
}

uint16_t load(const uint16_t* p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

}  // namespace

uint64_t DescriptorChain::readableBytes() const
{
    uint64_t n = 0;
    for (auto s : readable)
        n += s.size();
    return n;
}

uint64_t DescriptorChain::writableBytes() const
{
    uint64_t n = 0;
    for (auto s : writable)
        n += s.size();
    return n;
}

VirtQueue::VirtQueue(const GuestMemory& memory, const QueueLayout& layout, bool eventIdx, bool indirect)
    : memory_(memory), layout_(layout), eventIdx_(eventIdx), indirect_(indirect)
{
    uint64_t n = layout.size;
    if (n == 0 || n > 32768 || (n & (n - 1)))
        throw VirtQueueError(_("queue size is not a power of two up to 32768"));
    if (layout.descTable % 16 || layout.availRing % 2 || layout.usedRing % 4)
        throw VirtQueueError(_("queue rings are misaligned"));
    at<uint8_t>(memory, layout.descTable, 16 * n, "descriptor table");
    auto* avail = at<uint16_t>(memory, layout.availRing, 6 + 2 * n, "available ring");
    auto* used = at<uint8_t>(memory, layout.usedRing, 6 + 8 * n, "used ring");
    availFlags_ = avail;
    availIdxPtr_ = avail + 1;
    availRing_ = avail + 2;
    usedEvent_ = avail + 2 + n;
    usedIdxPtr_ = reinterpret_cast<uint16_t*>(used + 2);
    usedRing_ = used + 4;
    availEvent_ = reinterpret_cast<uint16_t*>(used + 4 + 8 * n);
    // A queue starts where its used ring says the device stopped (zero on a fresh one).
    usedIdx_ = load(usedIdxPtr_);
    lastAvail_ = usedIdx_;
}

uint16_t VirtQueue::availIdx() const
{
    return load(availIdxPtr_);
}

std::optional<DescriptorChain> VirtQueue::pop()
{
    uint16_t avail = availIdx();
    if (avail == lastAvail_ && eventIdx_) {
        // Ask to be kicked for the next buffer, then look again: the driver may have
        // added one before it could see our new avail_event.
        __atomic_store_n(availEvent_, lastAvail_, __ATOMIC_RELEASE);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        avail = availIdx();
    }
    if (avail == lastAvail_)
        return std::nullopt;
    if (static_cast<uint16_t>(avail - lastAvail_) > layout_.size)
        throw VirtQueueError(_("the driver made more buffers available than the queue holds"));
    std::atomic_thread_fence(std::memory_order_acquire);
    uint16_t head = load(&availRing_[lastAvail_ % layout_.size]);
    ++lastAvail_;
    if (eventIdx_)
        __atomic_store_n(availEvent_, lastAvail_, __ATOMIC_RELEASE);
    return walk(memory_, layout_.descTable, layout_.size, head, indirect_);
}

DescriptorChain VirtQueue::walk(const GuestMemory& memory, uint64_t table, uint16_t tableSize, uint16_t head,
                                bool indirectAllowed)
{
    DescriptorChain chain;
    chain.head = head;
    uint64_t currentTable = table;
    uint32_t currentSize = tableSize;
    uint16_t index = head;
    uint32_t seen = 0;
    bool inIndirect = false;
    uint64_t total = 0;
    for (;;) {
        if (index >= currentSize)
            throw VirtQueueError(_("descriptor index ") + std::to_string(index) + _(" past the table"));
        // A chain can visit each descriptor once; more means the driver made a loop.
        if (++seen > currentSize)
            throw VirtQueueError(_("descriptor chain loops"));
        RawDescriptor d;
        std::memcpy(&d, at<uint8_t>(memory, currentTable + 16ull * index, 16, "descriptor"), sizeof d);
        if (d.flags & kDescIndirect) {
            if (!indirectAllowed || inIndirect || (d.flags & kDescNext))
                throw VirtQueueError(_("indirect descriptor where none is allowed"));
            if (d.len == 0 || d.len % 16 || d.len / 16 > 65535)
                throw VirtQueueError(_("indirect descriptor table has a bad length"));
            at<uint8_t>(memory, d.addr, d.len, "indirect descriptor table");
            inIndirect = true;
            currentTable = d.addr;
            currentSize = d.len / 16;
            index = 0;
            seen = 0;
            continue;
        }
        total += d.len;
        if (total > (uint64_t{1} << 32))
            throw VirtQueueError(_("descriptor chain longer than 4 GiB"));
        auto buffer = std::span<uint8_t>(at<uint8_t>(memory, d.addr, d.len, "buffer"), d.len);
        if (d.flags & kDescWrite) {
            chain.writable.push_back(buffer);
        } else {
            if (!chain.writable.empty())
                throw VirtQueueError(_("device-readable buffer after a device-writable one"));
            chain.readable.push_back(buffer);
        }
        if (!(d.flags & kDescNext))
            return chain;
        index = d.next;
    }
}

void VirtQueue::pushUsed(uint16_t head, uint32_t written)
{
    uint8_t* slot = usedRing_ + 8 * (usedIdx_ % layout_.size);
    uint32_t id = head;
    std::memcpy(slot, &id, 4);
    std::memcpy(slot + 4, &written, 4);
    ++usedIdx_;
    __atomic_store_n(usedIdxPtr_, usedIdx_, __ATOMIC_RELEASE);
}

bool VirtQueue::needsInterrupt()
{
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint16_t old = signalledUsed_;
    bool valid = signalledValid_;
    signalledUsed_ = usedIdx_;
    signalledValid_ = true;
    if (!eventIdx_)
        return !(load(availFlags_) & kAvailNoInterrupt);
    if (!valid)
        return true;
    // vring_need_event(): interrupt when used_event lies in (old, new].
    uint16_t event = load(usedEvent_);
    return static_cast<uint16_t>(usedIdx_ - event - 1) < static_cast<uint16_t>(usedIdx_ - old);
}

}  // namespace mica::virtio
