// Little-endian fields of on-disk metadata (VHDX stores every integer that way), read
// from and written to byte buffers of any alignment.
#pragma once

#include <endian.h>

#include <cstdint>
#include <cstring>

namespace mica::block {

template <typename T>
T loadLe(const void* at)
{
    T v;
    std::memcpy(&v, at, sizeof v);
    if constexpr (sizeof(T) == 8)
        return static_cast<T>(le64toh(v));
    else if constexpr (sizeof(T) == 4)
        return static_cast<T>(le32toh(v));
    else if constexpr (sizeof(T) == 2)
        return static_cast<T>(le16toh(v));
    else
        return v;
}

template <typename T>
void storeLe(void* at, T v)
{
    if constexpr (sizeof(T) == 8)
        v = static_cast<T>(htole64(v));
    else if constexpr (sizeof(T) == 4)
        v = static_cast<T>(htole32(v));
    else if constexpr (sizeof(T) == 2)
        v = static_cast<T>(htole16(v));
    std::memcpy(at, &v, sizeof v);
}

}  // namespace mica::block
