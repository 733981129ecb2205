#include "Crc32c.h"

#include <array>

namespace mica::block {

namespace {

// One table lookup per byte: fast enough for metadata, which is all VHDX checksums.
constexpr std::array<uint32_t, 256> makeTable()
{
    constexpr uint32_t kReflectedPolynomial = 0x82f63b78;
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t crc = i;
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc >> 1) ^ (crc & 1 ? kReflectedPolynomial : 0);
        table[i] = crc;
    }
    return table;
}

constexpr auto kTable = makeTable();

}  // namespace

uint32_t crc32c(const void* data, size_t length)
{
    const auto* bytes = static_cast<const uint8_t*>(data);
    uint32_t crc = ~uint32_t{0};
    for (size_t i = 0; i < length; ++i)
        crc = (crc >> 8) ^ kTable[(crc ^ bytes[i]) & 0xff];
    return ~crc;
}

}  // namespace mica::block
