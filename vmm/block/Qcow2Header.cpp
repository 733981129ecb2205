#include "Qcow2Header.h"

#include <vector>

#include "BigEndian.h"
#include "Error.h"
#include "i18n.h"

namespace mica::block {

namespace {

constexpr uint32_t kMagic = 0x514649fb;  // "QFI\xfb"
// Limits QEMU applies too: past them an image is corrupt or hostile, not big.
constexpr uint32_t kMinClusterBits = 9, kMaxClusterBits = 21;
constexpr uint64_t kMaxL1Bytes = 32 << 20;
constexpr uint64_t kMaxRefcountTableBytes = 8 << 20;
constexpr uint32_t kMaxBackingName = 1023;
constexpr uint64_t kMaxOffset = uint64_t(1) << 56;  // an L2 entry holds offsets below 2^56

// Header extensions.
constexpr uint32_t kExtEnd = 0, kExtBackingFormat = 0xe2792aca, kExtExternalData = 0x44415441,
                   kExtEncryption = 0x0537be77;

// Incompatible feature bits: dirty and corrupt are understood; the others
// (external data file, compression type, extended L2) are refused.
constexpr uint64_t kKnownIncompatible = Qcow2Header::kDirty | Qcow2Header::kCorrupt;
constexpr uint64_t kCompressionTypeBit = 8;

[[noreturn]] void bad(const std::string& why)
{
    throw Error("qcow2: " + why);
}

}  // namespace

Qcow2Header parseQcow2Header(const ReadAt& read, bool writable)
{
    uint8_t b[104] = {};
    read(0, b, sizeof b);
    if (loadBe<uint32_t>(b) != kMagic)
        bad(_("not a qcow2 image (no QFI magic)"));
    Qcow2Header h;
    h.version = loadBe<uint32_t>(b + 4);
    if (h.version != 2 && h.version != 3)
        bad(_("version ") + std::to_string(h.version) + _(" is not supported (2 and 3 are)"));
    uint64_t backingOffset = loadBe<uint64_t>(b + 8);
    uint32_t backingSize = loadBe<uint32_t>(b + 16);
    h.clusterBits = loadBe<uint32_t>(b + 20);
    h.size = loadBe<uint64_t>(b + 24);
    uint32_t crypt = loadBe<uint32_t>(b + 32);
    h.l1Size = loadBe<uint32_t>(b + 36);
    h.l1Offset = loadBe<uint64_t>(b + 40);
    h.refcountTableOffset = loadBe<uint64_t>(b + 48);
    h.refcountTableClusters = loadBe<uint32_t>(b + 56);
    h.snapshots = loadBe<uint32_t>(b + 60);
    if (h.version == 3) {
        h.incompatible = loadBe<uint64_t>(b + 72);
        h.compatible = loadBe<uint64_t>(b + 80);
        h.autoclear = loadBe<uint64_t>(b + 88);
        h.refcountOrder = loadBe<uint32_t>(b + 96);
        h.headerLength = loadBe<uint32_t>(b + 100);
        if (h.headerLength < 104 || h.headerLength % 8)
            bad(_("invalid header length ") + std::to_string(h.headerLength));
    }

    if (h.clusterBits < kMinClusterBits || h.clusterBits > kMaxClusterBits)
        bad(_("cluster size 2^") + std::to_string(h.clusterBits) + _(" is outside 512 bytes to 2 MiB"));
    const uint64_t cs = h.clusterSize();
    if (h.headerLength > cs)
        bad(_("the header is longer than a cluster"));
    if (crypt != 0)
        bad(_("encrypted images are not supported"));
    if (h.incompatible & ~kKnownIncompatible) {
        if (h.incompatible & kCompressionTypeBit)
            bad(_("a compression type other than zlib is not supported"));
        bad(_("unsupported incompatible features (bits ") + std::to_string(h.incompatible & ~kKnownIncompatible) +
            _("): external data file or extended L2 entries"));
    }
    if (h.refcountOrder < 3 || h.refcountOrder > 6)
        bad(_("refcounts of ") + std::to_string(1u << std::min(h.refcountOrder, 31u)) +
            _(" bits are not supported (8 to 64 are)"));
    if (writable && (h.incompatible & Qcow2Header::kDirty))
        bad(_("the image was not closed cleanly (dirty); repair it with qemu-img check -r all"));
    if (writable && (h.incompatible & Qcow2Header::kCorrupt))
        bad(_("the image is marked corrupt; repair it with qemu-img check -r all"));
    if (writable && h.snapshots)
        bad(_("images with internal snapshots can only be opened read-only"));

    // The tables the rest believes: aligned, inside the format's limits, and the L1
    // table big enough for the disk.
    if (h.l1Offset % cs || h.refcountTableOffset % cs || h.l1Offset >= kMaxOffset || h.refcountTableOffset >= kMaxOffset)
        bad(_("a table offset is not cluster-aligned or is out of range"));
    if (uint64_t(h.l1Size) * 8 > kMaxL1Bytes)
        bad(_("the L1 table is too large"));
    if (uint64_t(h.refcountTableClusters) * cs > kMaxRefcountTableBytes || h.refcountTableClusters == 0)
        bad(_("the refcount table size is out of range"));
    const uint64_t perL1 = cs * h.l2Entries();  // guest bytes one L1 entry maps
    if (h.size / perL1 + (h.size % perL1 != 0) > h.l1Size)
        bad(_("the L1 table is too small for the disk size"));

    if (backingOffset || backingSize) {
        if (backingSize == 0 || backingSize > kMaxBackingName || backingOffset > cs ||
            backingOffset + backingSize > cs)
            bad(_("invalid backing file name location"));
        h.backingFile.resize(backingSize);
        read(backingOffset, h.backingFile.data(), backingSize);
        if (h.backingFile.find('\0') != std::string::npos)
            bad(_("the backing file name holds a NUL"));
    }

    // Header extensions: from the end of the header to the end extension, within the
    // first cluster.
    uint64_t at = h.version == 2 ? 72 : h.headerLength;
    while (true) {
        if (at + 8 > cs)
            bad(_("header extensions run past the first cluster"));
        uint8_t e[8];
        read(at, e, sizeof e);
        uint32_t type = loadBe<uint32_t>(e), length = loadBe<uint32_t>(e + 4);
        at += 8;
        if (type == kExtEnd)
            break;
        if (length > cs - at)
            bad(_("a header extension runs past the first cluster"));
        if (type == kExtBackingFormat) {
            std::string format(length, '\0');
            read(at, format.data(), length);
            h.backingFormat = format;
        } else if (type == kExtExternalData) {
            bad(_("external data files are not supported"));
        } else if (type == kExtEncryption) {
            bad(_("encrypted images are not supported"));
        }
        at += (uint64_t(length) + 7) & ~uint64_t(7);
    }
    return h;
}

}  // namespace mica::block
