// CRC-32C (Castagnoli), the checksum of VHDX's headers, region tables and log entries.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mica::block {

// The CRC-32C of `length` bytes (initial value ~0, final complement, as iSCSI and
// MS-VHDX define it): crc32c("123456789") == 0xe3069283.
uint32_t crc32c(const void* data, size_t length);

}  // namespace mica::block
