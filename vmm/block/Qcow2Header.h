// A qcow2 image's header and header extensions (QEMU's docs/interop/qcow2.txt), parsed
// and checked before anything else of the image is believed: what mica reads and writes
// (versions 2 and 3, no encryption, no external data file, zlib compression, 8 to 64-bit
// refcounts) and the offsets and sizes every later lookup relies on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "DiskImage.h"

namespace mica::block {

struct Qcow2Header {
    uint32_t version = 0;
    uint32_t clusterBits = 0;
    uint64_t size = 0;  // the guest's disk, bytes
    uint32_t l1Size = 0;
    uint64_t l1Offset = 0;
    uint64_t refcountTableOffset = 0;
    uint32_t refcountTableClusters = 0;
    uint32_t snapshots = 0;
    uint64_t incompatible = 0, compatible = 0, autoclear = 0;
    uint32_t refcountOrder = 4;
    uint32_t headerLength = 72;
    std::string backingFile;                   // empty: none
    std::optional<std::string> backingFormat;  // the backing format extension

    uint64_t clusterSize() const { return uint64_t(1) << clusterBits; }
    uint64_t l2Entries() const { return clusterSize() / 8; }

    // Header field offsets a writer updates in place.
    static constexpr uint64_t kRefcountTableAt = 48, kAutoclearAt = 88;
    static constexpr uint64_t kDirty = 1, kCorrupt = 2;
};

// Throws Error "qcow2: reason" (the caller prefixes the path) for anything mica cannot
// read safely; `writable` adds the rules for writing (not dirty, not corrupt, no
// internal snapshots).
Qcow2Header parseQcow2Header(const ReadAt& read, bool writable);

}  // namespace mica::block
