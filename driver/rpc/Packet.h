// Framing: a 4-byte big-endian length (counting itself), the 24-byte header, the payload.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "Protocol.h"

namespace mica::rpc {

struct Header {
    std::uint32_t prog = 0;
    std::uint32_t vers = 0;
    std::int32_t proc = 0;
    MessageType type = MessageType::Call;
    std::uint32_t serial = 0;
    MessageStatus status = MessageStatus::Ok;
    bool operator==(const Header&) const = default;
};

struct Packet {
    Header header;
    std::vector<std::uint8_t> payload;
};

// A whole packet, length word included, ready for the socket.
std::vector<std::uint8_t> encodePacket(const Header& header, std::span<const std::uint8_t> payload);

// Splits a byte stream into packets. The length word is checked the moment it is
// complete (before any payload is buffered): below 28 or above 4 + kMessageMax the
// stream is unusable, because there is no way to find the next packet boundary, and
// the connection must be closed.
class PacketReader {
public:
    explicit PacketReader(std::uint32_t messageMax = kMessageMax) : messageMax_(messageMax) {}

    // Buffers bytes read from the socket. Returns false once the stream is invalid.
    bool append(std::span<const std::uint8_t> bytes);
    // The next complete packet, if one is buffered. Throws nothing: a header with an
    // unknown type or status makes the stream invalid (see error()).
    std::optional<Packet> next();

    bool invalid() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    std::size_t buffered() const { return buf_.size() - start_; }

private:
    bool checkLength();
    std::uint32_t messageMax_;
    std::vector<std::uint8_t> buf_;
    std::size_t start_ = 0;   // consumed prefix of buf_, compacted lazily
    std::string error_;
};

}  // namespace mica::rpc
