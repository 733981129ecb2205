// Little-endian field writers for firmware tables. The tables are packed little-endian
// structures; writing them field by field keeps struct padding and host byte order out
// of guest memory, and a builder reads top to bottom like the spec's field list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string_view>
#include <vector>

namespace mica::x86 {

using Bytes = std::vector<uint8_t>;

// `size` bytes of `value`, least significant first; past 8 bytes, zeros.
inline void appendLe(Bytes& out, uint64_t value, std::size_t size)
{
    for (std::size_t i = 0; i < size; i++)
        out.push_back(i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : 0);
}

inline void putLe(Bytes& out, std::size_t offset, uint64_t value, std::size_t size)
{
    for (std::size_t i = 0; i < size; i++)
        out.at(offset + i) = i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : 0;
}

// Fixed-width text fields (signatures, OEM ids) are padded, never NUL-terminated.
inline void appendText(Bytes& out, std::string_view text, std::size_t width, char pad = ' ')
{
    for (std::size_t i = 0; i < width; i++)
        out.push_back(static_cast<uint8_t>(i < text.size() ? text[i] : pad));
}

inline void appendBytes(Bytes& out, const Bytes& more)
{
    out.insert(out.end(), more.begin(), more.end());
}

// The byte that makes bytes [begin, end) sum to zero once stored among them (in a slot
// that held zero).
inline uint8_t zeroSumByte(const Bytes& bytes, std::size_t begin, std::size_t end)
{
    unsigned sum = std::accumulate(bytes.begin() + begin, bytes.begin() + end, 0u);
    return static_cast<uint8_t>(0x100 - (sum & 0xff));
}

}  // namespace mica::x86
