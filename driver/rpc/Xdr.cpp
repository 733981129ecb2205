#include "Xdr.h"

#include <bit>
#include <cstring>

namespace mica::rpc {

namespace {

std::size_t padTo4(std::size_t n) { return (4 - (n % 4)) % 4; }

}  // namespace

void XdrEncoder::putU32(std::uint32_t v)
{
    buf_.push_back(static_cast<std::uint8_t>(v >> 24));
    buf_.push_back(static_cast<std::uint8_t>(v >> 16));
    buf_.push_back(static_cast<std::uint8_t>(v >> 8));
    buf_.push_back(static_cast<std::uint8_t>(v));
}

void XdrEncoder::putU64(std::uint64_t v)
{
    putU32(static_cast<std::uint32_t>(v >> 32));
    putU32(static_cast<std::uint32_t>(v));
}

void XdrEncoder::putDouble(double v)
{
    putU64(std::bit_cast<std::uint64_t>(v));
}

void XdrEncoder::pad(std::size_t n)
{
    buf_.insert(buf_.end(), padTo4(n), 0);
}

void XdrEncoder::putString(std::string_view s)
{
    putU32(static_cast<std::uint32_t>(s.size()));
    buf_.insert(buf_.end(), s.begin(), s.end());
    pad(s.size());
}

void XdrEncoder::putOptionalString(const std::optional<std::string>& s)
{
    putBool(s.has_value());
    if (s)
        putString(*s);
}

void XdrEncoder::putFixedOpaque(std::span<const std::uint8_t> bytes)
{
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    pad(bytes.size());
}

void XdrEncoder::putVarOpaque(std::span<const std::uint8_t> bytes)
{
    putU32(static_cast<std::uint32_t>(bytes.size()));
    putFixedOpaque(bytes);
}

void XdrEncoder::putFixedCharArray(std::string_view s, std::size_t n)
{
    for (std::size_t i = 0; i < n; ++i)
        putI32(i < s.size() ? static_cast<signed char>(s[i]) : 0);
}

void XdrEncoder::putRaw(std::span<const std::uint8_t> bytes)
{
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

void XdrEncoder::patchU32(std::size_t offset, std::uint32_t v)
{
    if (offset + 4 > buf_.size())
        throw std::logic_error("XdrEncoder::patchU32 past the end");
    buf_[offset] = static_cast<std::uint8_t>(v >> 24);
    buf_[offset + 1] = static_cast<std::uint8_t>(v >> 16);
    buf_[offset + 2] = static_cast<std::uint8_t>(v >> 8);
    buf_[offset + 3] = static_cast<std::uint8_t>(v);
}

void XdrDecoder::need(std::size_t n, const char* what) const
{
    if (n > remaining())
        throw XdrError(std::string("truncated payload: ") + what + " needs " +
                       std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
}

void XdrDecoder::skipPad(std::size_t n)
{
    std::size_t p = padTo4(n);
    need(p, "padding");
    pos_ += p;
}

std::uint32_t XdrDecoder::getU32()
{
    need(4, "a 32-bit word");
    const std::uint8_t* p = data_.data() + pos_;
    pos_ += 4;
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
           (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::uint64_t XdrDecoder::getU64()
{
    need(8, "a 64-bit word");
    std::uint64_t hi = getU32();
    return (hi << 32) | getU32();
}

// tirpc's xdr_bool, which libvirt's generated code uses for bools and for the
// presence word of every optional item, decodes any nonzero word as true. Clients
// that do not go through tirpc (a pure-Go libvirt client sends 0x01000000) rely on
// that, so we accept it too; what we send is always 0 or 1 (putBool).
bool XdrDecoder::getBool()
{
    return getU32() != 0;
}

double XdrDecoder::getDouble()
{
    return std::bit_cast<double>(getU64());
}

std::string XdrDecoder::getString(std::uint32_t max)
{
    std::uint32_t len = getU32();
    if (len > max)
        throw XdrError("string of " + std::to_string(len) + " bytes exceeds its bound of " +
                       std::to_string(max));
    need(len, "string bytes");
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), len);
    pos_ += len;
    skipPad(len);
    return s;
}

std::optional<std::string> XdrDecoder::getOptionalString(std::uint32_t max)
{
    if (!getPresent())
        return std::nullopt;
    return getString(max);
}

std::vector<std::uint8_t> XdrDecoder::getFixedOpaque(std::size_t n)
{
    need(n, "fixed opaque");
    std::vector<std::uint8_t> v(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                data_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    skipPad(n);
    return v;
}

std::vector<std::uint8_t> XdrDecoder::getVarOpaque(std::uint32_t max)
{
    std::uint32_t len = getU32();
    if (len > max)
        throw XdrError("opaque of " + std::to_string(len) + " bytes exceeds its bound of " +
                       std::to_string(max));
    return getFixedOpaque(len);
}

bool XdrDecoder::getPresent()
{
    return getBool();   // xdr_pointer reads its presence word with xdr_bool
}

std::uint32_t XdrDecoder::getArrayCount(std::uint32_t max, std::size_t minElementBytes)
{
    std::uint32_t n = getU32();
    if (n > max)
        throw XdrError("array of " + std::to_string(n) + " elements exceeds its bound of " +
                       std::to_string(max));
    if (minElementBytes > 0 && n > remaining() / minElementBytes)
        throw XdrError("array of " + std::to_string(n) + " elements cannot fit in the " +
                       std::to_string(remaining()) + " bytes left");
    return n;
}

void XdrDecoder::expectEnd() const
{
    if (remaining() != 0)
        throw XdrError(std::to_string(remaining()) + " unexpected bytes after the arguments");
}

}  // namespace mica::rpc
