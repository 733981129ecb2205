// Helpers the table tests share: reading little-endian fields, checksums, and finding a
// table among the blobs a builder returned.
#pragma once

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "PlatformDesc.h"

namespace mica::x86::test {

inline uint64_t le(const std::vector<uint8_t>& bytes, std::size_t offset, std::size_t size)
{
    uint64_t value = 0;
    for (std::size_t i = 0; i < size; i++)
        value |= uint64_t{bytes.at(offset + i)} << (8 * i);
    return value;
}

inline std::string text(const std::vector<uint8_t>& bytes, std::size_t offset, std::size_t size)
{
    return std::string(bytes.begin() + offset, bytes.begin() + offset + size);
}

inline uint8_t byteSum(const std::vector<uint8_t>& bytes, std::size_t offset, std::size_t size)
{
    return static_cast<uint8_t>(std::accumulate(bytes.begin() + offset, bytes.begin() + offset + size, 0u));
}

// The blob whose first four bytes are `signature` ("RSD " for the RSDP).
inline const Blob& table(const std::vector<Blob>& blobs, const std::string& signature)
{
    for (const Blob& blob : blobs)
        if (blob.bytes.size() >= 4 && text(blob.bytes, 0, 4) == signature)
            return blob;
    ADD_FAILURE() << "no " << signature << " table";
    static const Blob none{0, std::vector<uint8_t>(512, 0)};
    return none;
}

inline bool hasTable(const std::vector<Blob>& blobs, const std::string& signature)
{
    for (const Blob& blob : blobs)
        if (blob.bytes.size() >= 4 && text(blob.bytes, 0, 4) == signature)
            return true;
    return false;
}

}  // namespace mica::x86::test
