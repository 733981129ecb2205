#include "Packet.h"

#include "Xdr.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

namespace mica::rpc {

namespace {

constexpr std::size_t kHugePage = 2u << 20;

// A 32 MiB message arriving costs 8,192 page faults in 4 KiB pages (twice that with
// the buffer doubling), which dominated the daemon's time receiving large messages
// (faults are slow in virtual machines); in huge pages it costs 16. Only the 2 MiB-
// aligned part of the block can use them.
void adviseHugePages(void* data, std::size_t size)
{
    auto begin = reinterpret_cast<std::uintptr_t>(data);
    std::uintptr_t first = (begin + kHugePage - 1) / kHugePage * kHugePage;
    std::uintptr_t last = (begin + size) / kHugePage * kHugePage;
    if (last > first)
        ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

std::uint32_t readU32(const std::uint8_t* p)
{
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
           (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

}  // namespace

std::vector<std::uint8_t> encodePacket(const Header& h, std::span<const std::uint8_t> payload)
{
    XdrEncoder enc;
    enc.putU32(static_cast<std::uint32_t>(kLengthSize + kHeaderSize + payload.size()));
    enc.putU32(h.prog);
    enc.putU32(h.vers);
    enc.putI32(h.proc);
    enc.putI32(static_cast<std::int32_t>(h.type));
    enc.putU32(h.serial);
    enc.putI32(static_cast<std::int32_t>(h.status));
    enc.putRaw(payload);
    return enc.take();
}

bool PacketReader::checkLength()
{
    if (buffered() < kLengthSize)
        return true;
    std::uint32_t len = readU32(buf_.data() + start_);
    if (len < kLengthSize + kHeaderSize) {
        error_ = "packet length " + std::to_string(len) + " is shorter than a header";
        return false;
    }
    if (len - kLengthSize > messageMax_) {
        error_ = "packet length " + std::to_string(len) + " exceeds the limit of " +
                 std::to_string(messageMax_ + kLengthSize) + " bytes";
        return false;
    }
    return true;
}

std::size_t PacketReader::partialLength() const
{
    if (buffered() < kLengthSize)
        return 0;
    std::uint32_t len = readU32(buf_.data() + start_);
    return buffered() < len ? len : 0;
}

void PacketReader::makeRoom(std::size_t more)
{
    if (buf_.size() + more <= buf_.capacity())
        return;
    // A new buffer for the bytes not yet handed out (the consumed prefix goes), twice
    // what has arrived (the copies stay linear), never past the end of the packet being
    // received: what a peer announces costs nothing until it sends it. Not reserved to
    // the packet's end: untouched pages would cost nothing either, but only as long as
    // the allocator does not touch them (MALLOC_PERTURB_ does), and the budget must hold
    // whatever the allocator does.
    std::size_t need = buffered() + more;
    std::size_t capacity = std::max({need, 2 * buffered(), kKeptCapacity});
    if (buffered() >= kLengthSize) {
        std::size_t len = readU32(buf_.data() + start_);
        if (len >= need)
            capacity = std::min(capacity, len);
    }
    std::vector<std::uint8_t> grown;
    grown.reserve(capacity);
    if (capacity > kSmallPacket)
        adviseHugePages(grown.data(), capacity);
    grown.insert(grown.end(), buf_.begin() + static_cast<std::ptrdiff_t>(start_), buf_.end());
    buf_.swap(grown);
    start_ = 0;
}

void PacketReader::release()
{
    if (start_ == buf_.size()) {
        if (buf_.capacity() > kKeptCapacity)
            std::vector<std::uint8_t>().swap(buf_);
        else
            buf_.clear();
        start_ = 0;
    } else if (buf_.capacity() > kKeptCapacity && buffered() < buf_.capacity() / 4) {
        // A large packet went and a small remainder stays: keep only the remainder.
        std::vector<std::uint8_t>(buf_.begin() + static_cast<std::ptrdiff_t>(start_), buf_.end()).swap(buf_);
        start_ = 0;
    }
}

bool PacketReader::append(std::span<const std::uint8_t> bytes)
{
    if (invalid())
        return false;
    if (start_ > 0 && start_ == buf_.size()) {
        buf_.clear();
        start_ = 0;
    }
    makeRoom(bytes.size());
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    return checkLength();
}

std::optional<Packet> PacketReader::next()
{
    if (invalid() || buffered() < kLengthSize || !checkLength())
        return std::nullopt;
    std::uint32_t len = readU32(buf_.data() + start_);
    if (buffered() < len)
        return std::nullopt;
    const std::uint8_t* p = buf_.data() + start_ + kLengthSize;
    Packet pkt;
    pkt.header.prog = readU32(p);
    pkt.header.vers = readU32(p + 4);
    pkt.header.proc = static_cast<std::int32_t>(readU32(p + 8));
    std::uint32_t type = readU32(p + 12);
    pkt.header.serial = readU32(p + 16);
    std::uint32_t status = readU32(p + 20);
    if (type > static_cast<std::uint32_t>(MessageType::StreamHole)) {
        error_ = "unknown message type " + std::to_string(type);
        return std::nullopt;
    }
    if (status > static_cast<std::uint32_t>(MessageStatus::Continue)) {
        error_ = "unknown message status " + std::to_string(status);
        return std::nullopt;
    }
    pkt.header.type = static_cast<MessageType>(type);
    pkt.header.status = static_cast<MessageStatus>(status);
    if (start_ == 0 && len == buf_.size() && len > kSmallPacket) {
        // A large packet alone in the buffer: the buffer becomes its payload (no second
        // copy of up to 32 MiB), and the reader starts again from nothing.
        pkt.payload = std::move(buf_);
        pkt.payload.erase(pkt.payload.begin(), pkt.payload.begin() + kLengthSize + kHeaderSize);
        buf_ = {};
        return pkt;
    }
    const std::uint8_t* end = buf_.data() + start_ + len;
    pkt.payload.assign(p + kHeaderSize, end);
    start_ += len;
    release();
    checkLength();   // flags an oversize claim of the following packet early
    return pkt;
}

}  // namespace mica::rpc
