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
//
// Memory follows the bytes, not the claims: a packet's buffer grows only as its bytes
// arrive (a peer announcing 32 MiB and sending 28 bytes holds 4 KiB), to at most twice
// what arrived and never past the packet's end, and once a packet is handed out the
// buffer shrinks back to at most kKeptCapacity, so a connection idle after a large
// message holds nothing large.
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
    // Bytes of memory the reader holds for the stream (its buffer's capacity: at most
    // twice the bytes that arrived, or 4 KiB).
    std::size_t heldBytes() const { return buf_.capacity(); }
    // The full length of the packet being received (length word included) once its
    // length word is in and before its last byte is; 0 otherwise.
    std::size_t partialLength() const;

    // What an idle reader may keep allocated (a page): 1,000 idle clients hold 4 MiB.
    static constexpr std::size_t kKeptCapacity = 4096;
    // Packets up to this size are small: they arrive in one read.
    static constexpr std::size_t kSmallPacket = 64 * 1024;

private:
    bool checkLength();
    void makeRoom(std::size_t more);
    void release();
    std::uint32_t messageMax_;
    std::vector<std::uint8_t> buf_;
    std::size_t start_ = 0;   // consumed prefix of buf_, compacted lazily
    std::string error_;
};

}  // namespace mica::rpc
