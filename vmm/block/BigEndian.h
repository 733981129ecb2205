// Big-endian fields of on-disk metadata (qcow2 and VHD store every integer that way),
// read from and written to byte buffers of any alignment.
#pragma once

#include <endian.h>

#include <cstdint>
#include <cstring>

namespace mica::block {

template <typename T>
T loadBe(const void* at)
{
    T v;
    std::memcpy(&v, at, sizeof v);
    if constexpr (sizeof(T) == 8)
        return static_cast<T>(be64toh(v));
    else if constexpr (sizeof(T) == 4)
        return static_cast<T>(be32toh(v));
    else if constexpr (sizeof(T) == 2)
        return static_cast<T>(be16toh(v));
    else
        return v;
}

template <typename T>
void storeBe(void* at, T v)
{
    if constexpr (sizeof(T) == 8)
        v = static_cast<T>(htobe64(v));
    else if constexpr (sizeof(T) == 4)
        v = static_cast<T>(htobe32(v));
    else if constexpr (sizeof(T) == 2)
        v = static_cast<T>(htobe16(v));
    std::memcpy(at, &v, sizeof v);
}

}  // namespace mica::block
