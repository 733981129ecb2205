// A VHDX image's metadata (MS-VHDX): the file identifier, the two headers (the valid one
// with the higher sequence number is current), the region table (where the BAT and the
// metadata region are), and the metadata items mica needs (block size, flags, disk
// size, sector sizes), parsed and checked before anything of the image is believed.
// Every integer is little-endian; checksums are CRC-32C.
#pragma once

#include <array>
#include <cstdint>

#include "DiskImage.h"

namespace mica::block {

using Guid = std::array<uint8_t, 16>;  // as stored: the first three fields little-endian

constexpr uint64_t kMiB = 1 << 20;

struct VhdxHeader {
    uint64_t sequence = 0;
    Guid fileWriteGuid{}, dataWriteGuid{}, logGuid{};
    uint32_t logLength = 0;
    uint64_t logOffset = 0;
    unsigned slot = 0;  // 0: the header at 64 KiB, 1: the one at 128 KiB

    static constexpr uint64_t kAt[2] = {64 << 10, 128 << 10};
    static constexpr size_t kSize = 4096;
};

struct VhdxLayout {
    VhdxHeader header;  // the current header
    uint64_t batOffset = 0, batLength = 0;
    uint64_t metadataOffset = 0, metadataLength = 0;
    uint32_t blockSize = 0;
    bool leaveAllocated = false;  // a fixed disk: blocks stay allocated
    uint64_t size = 0;            // the guest's disk
    uint32_t logicalSectorSize = 0, physicalSectorSize = 0;

    // Payload blocks per sector bitmap block: the BAT holds that many payload entries,
    // then one sector bitmap entry.
    uint64_t chunkRatio() const { return (uint64_t{1} << 23) * logicalSectorSize / blockSize; }
    uint64_t payloadBlocks() const { return (size + blockSize - 1) / blockSize; }
    // The BAT entry of payload block `block`.
    uint64_t batIndex(uint64_t block) const { return block + block / chunkRatio(); }
    // Entries up to the last payload block's (a non-differencing image needs no more).
    uint64_t batEntries() const { return payloadBlocks() ? batIndex(payloadBlocks() - 1) + 1 : 0; }
};

// Throws Error "vhdx: reason" (the caller prefixes the path) for anything mica cannot
// read safely: a bad signature or checksum, regions outside the file or overlapping,
// unknown required regions or metadata, a parent (differencing disks are not supported).
VhdxLayout parseVhdx(const ReadAt& read, uint64_t fileSize);

// `header` as its 4 KiB on disk, checksum included.
std::array<uint8_t, VhdxHeader::kSize> encodeVhdxHeader(const VhdxHeader& header);

}  // namespace mica::block
