#include "Packet.h"

#include "Xdr.h"

namespace mica::rpc {

namespace {

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

bool PacketReader::append(std::span<const std::uint8_t> bytes)
{
    if (invalid())
        return false;
    // Compact before growing so a long-lived connection does not accumulate history.
    if (start_ > 0 && start_ == buf_.size()) {
        buf_.clear();
        start_ = 0;
    } else if (start_ > 65536 && start_ * 2 > buf_.size()) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
        start_ = 0;
    }
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
    const std::uint8_t* end = buf_.data() + start_ + len;
    pkt.payload.assign(p + kHeaderSize, end);
    start_ += len;
    checkLength();   // flags an oversize claim of the following packet early
    return pkt;
}

}  // namespace mica::rpc
