// XDR (RFC 4506) as libvirt's rpcgen-generated code writes it: big-endian, every item
// padded to 4 bytes. Our own encoder/decoder, so the daemon does not depend on SunRPC's
// xdr_* routines (gone from glibc) or on libvirt's private code.
//
// The decoder never trusts a length from the wire: every variable-length item has a
// bound (the <N> of the .x file) and is checked against the bytes actually left before
// anything is allocated, so a 28-byte packet cannot make us reserve gigabytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mica::rpc {

// A payload that does not match the structure it should hold: truncated, over a
// bound, or with bytes left over.
class XdrError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class XdrEncoder {
public:
    void putU32(std::uint32_t v);
    void putI32(std::int32_t v) { putU32(static_cast<std::uint32_t>(v)); }
    void putU64(std::uint64_t v);
    void putI64(std::int64_t v) { putU64(static_cast<std::uint64_t>(v)); }
    void putBool(bool v) { putU32(v ? 1 : 0); }
    void putDouble(double v);
    // string<N>: length, bytes, zero padding; no NUL.
    void putString(std::string_view s);
    // remote_string: a presence word, then the string.
    void putOptionalString(const std::optional<std::string>& s);
    // opaque[N]: the bytes and padding, no length.
    void putFixedOpaque(std::span<const std::uint8_t> bytes);
    // opaque<N>: length, bytes, padding.
    void putVarOpaque(std::span<const std::uint8_t> bytes);
    // char[N]: rpcgen widens every char to a 4-byte word; s is NUL-padded to n.
    void putFixedCharArray(std::string_view s, std::size_t n);
    // Raw bytes with no XDR framing (stream data); the caller knows the layout.
    void putRaw(std::span<const std::uint8_t> bytes);

    std::size_t size() const { return buf_.size(); }
    const std::vector<std::uint8_t>& bytes() const { return buf_; }
    std::vector<std::uint8_t> take() { return std::move(buf_); }
    // Overwrites a u32 written earlier (e.g. a length or count known only later).
    void patchU32(std::size_t offset, std::uint32_t v);

private:
    void pad(std::size_t n);
    std::vector<std::uint8_t> buf_;
};

class XdrDecoder {
public:
    explicit XdrDecoder(std::span<const std::uint8_t> data) : data_(data) {}

    std::uint32_t getU32();
    std::int32_t getI32() { return static_cast<std::int32_t>(getU32()); }
    std::uint64_t getU64();
    std::int64_t getI64() { return static_cast<std::int64_t>(getU64()); }
    // Any nonzero word is true, as tirpc's xdr_bool decodes it.
    bool getBool();
    double getDouble();
    std::string getString(std::uint32_t max);
    std::optional<std::string> getOptionalString(std::uint32_t max);
    std::vector<std::uint8_t> getFixedOpaque(std::size_t n);
    std::vector<std::uint8_t> getVarOpaque(std::uint32_t max);
    // Reads the presence word of an optional ("pointer") item: a bool, so any
    // nonzero word means present.
    bool getPresent();
    // Reads the element count of T x<max>, refusing counts the remaining bytes cannot
    // hold (each element takes at least minElementBytes).
    std::uint32_t getArrayCount(std::uint32_t max, std::size_t minElementBytes);

    std::size_t remaining() const { return data_.size() - pos_; }
    std::size_t position() const { return pos_; }
    // Every procedure's arguments must be consumed exactly.
    void expectEnd() const;

private:
    void need(std::size_t n, const char* what) const;
    void skipPad(std::size_t n);
    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;
};

}  // namespace mica::rpc
