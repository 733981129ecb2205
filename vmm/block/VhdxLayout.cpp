#include "VhdxLayout.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "Crc32c.h"
#include "Error.h"
#include "LittleEndian.h"
#include "i18n.h"

namespace mica::block {

namespace {

// A GUID from its text form "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", in the byte order
// the file stores it (the first three fields little-endian, the last eight bytes as
// written).
constexpr Guid guid(const char (&text)[37])
{
    auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    uint8_t bytes[16] = {};
    for (int i = 0, at = 0; i < 16; ++i, at += 2) {
        if (text[at] == '-')
            ++at;
        bytes[i] = static_cast<uint8_t>(hex(text[at]) << 4 | hex(text[at + 1]));
    }
    return Guid{bytes[3], bytes[2], bytes[1],  bytes[0],  bytes[5],  bytes[4],  bytes[7],  bytes[6],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]};
}

constexpr Guid kBatRegion = guid("2DC27766-F623-4200-9D64-115E9BFD4A08");
constexpr Guid kMetadataRegion = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E");
constexpr Guid kFileParameters = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
constexpr Guid kVirtualDiskSize = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
constexpr Guid kVirtualDiskId = guid("BECA12AB-B2E6-4523-93EF-C309E000C746");
constexpr Guid kLogicalSectorSize = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
constexpr Guid kPhysicalSectorSize = guid("CDA348C7-445D-4471-9CC9-E9885251C556");
constexpr Guid kParentLocator = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");

// The file type identifier, at 0.
constexpr char kFileSignature[] = "vhdxfile";
// A header: 4 KiB.
namespace header {
constexpr size_t kSignature = 0, kChecksum = 4, kSequence = 8, kFileWriteGuid = 16, kDataWriteGuid = 32,
                 kLogGuid = 48, kLogVersion = 64, kVersion = 66, kLogLength = 68, kLogOffset = 72;
}
// A region table: 64 KiB, a 16-byte header then 32-byte entries; two copies.
constexpr uint64_t kRegionTableAt[2] = {192 << 10, 256 << 10};
constexpr size_t kRegionTableSize = 64 << 10;
namespace region {
constexpr size_t kSignature = 0, kChecksum = 4, kEntryCount = 8, kEntriesAt = 16, kEntrySize = 32;
constexpr size_t kGuid = 0, kFileOffset = 16, kLength = 24, kRequired = 28;
}
// The metadata table: the first 64 KiB of the metadata region, a 32-byte header then
// 32-byte entries whose offsets are relative to the region.
constexpr size_t kMetadataTableSize = 64 << 10;
namespace metadata {
constexpr size_t kSignature = 0, kEntryCount = 10, kEntriesAt = 32, kEntrySize = 32;
constexpr size_t kGuid = 0, kOffset = 16, kLength = 20, kFlags = 24;
constexpr uint32_t kIsRequired = 4;
}
constexpr uint32_t kLeaveBlocksAllocated = 1, kHasParent = 2;
constexpr uint32_t kMaxEntries = 2047;  // of the region and metadata tables
constexpr uint64_t kMaxSize = uint64_t{64} << 40;  // the format's 64 TiB
constexpr uint64_t kHeaderArea = kMiB;             // identifier, headers, region tables

[[noreturn]] void bad(const std::string& why)
{
    throw Error("vhdx: " + why);
}

// The checksum over `length` bytes whose checksum field at `checksumAt` counts as zero.
uint32_t checksum(const uint8_t* data, size_t length, size_t checksumAt)
{
    std::vector<uint8_t> copy(data, data + length);
    std::memset(copy.data() + checksumAt, 0, 4);
    return crc32c(copy.data(), copy.size());
}

Guid loadGuid(const uint8_t* at)
{
    Guid g;
    std::memcpy(g.data(), at, g.size());
    return g;
}

// The current header: the valid one (signature, checksum, version 1) with the higher
// sequence number.
VhdxHeader readHeader(const ReadAt& read)
{
    std::optional<VhdxHeader> current;
    for (unsigned slot = 0; slot < 2; ++slot) {
        uint8_t b[VhdxHeader::kSize];
        read(VhdxHeader::kAt[slot], b, sizeof b);
        if (std::memcmp(b + header::kSignature, "head", 4) != 0 ||
            checksum(b, sizeof b, header::kChecksum) != loadLe<uint32_t>(b + header::kChecksum) ||
            loadLe<uint16_t>(b + header::kVersion) != 1)
            continue;
        VhdxHeader h;
        h.sequence = loadLe<uint64_t>(b + header::kSequence);
        h.fileWriteGuid = loadGuid(b + header::kFileWriteGuid);
        h.dataWriteGuid = loadGuid(b + header::kDataWriteGuid);
        h.logGuid = loadGuid(b + header::kLogGuid);
        h.logLength = loadLe<uint32_t>(b + header::kLogLength);
        h.logOffset = loadLe<uint64_t>(b + header::kLogOffset);
        h.slot = slot;
        if (loadLe<uint16_t>(b + header::kLogVersion) != 0)
            bad(_("log version ") + std::to_string(loadLe<uint16_t>(b + header::kLogVersion)) +
                _(" is not supported"));
        if (!current || h.sequence > current->sequence)
            current = h;
    }
    if (!current)
        bad(_("neither header is valid (bad signature, checksum or version)"));
    return *current;
}

struct Region {
    uint64_t offset = 0, length = 0;
};

// The first region table copy that is valid; the BAT and metadata regions from it.
void readRegions(const ReadAt& read, uint64_t fileSize, VhdxLayout& layout)
{
    std::vector<uint8_t> t(kRegionTableSize);
    bool valid = false;
    for (uint64_t at : kRegionTableAt) {
        read(at, t.data(), t.size());
        if (std::memcmp(t.data() + region::kSignature, "regi", 4) == 0 &&
            checksum(t.data(), t.size(), region::kChecksum) == loadLe<uint32_t>(t.data() + region::kChecksum)) {
            valid = true;
            break;
        }
    }
    if (!valid)
        bad(_("neither region table is valid (bad signature or checksum)"));
    uint32_t count = loadLe<uint32_t>(t.data() + region::kEntryCount);
    if (count > kMaxEntries)
        bad(_("the region table has too many entries"));
    std::optional<Region> bat, meta;
    for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* e = t.data() + region::kEntriesAt + i * region::kEntrySize;
        Guid id = loadGuid(e + region::kGuid);
        Region r{loadLe<uint64_t>(e + region::kFileOffset), loadLe<uint32_t>(e + region::kLength)};
        bool required = loadLe<uint32_t>(e + region::kRequired) & 1;
        std::optional<Region>* slot = id == kBatRegion ? &bat : id == kMetadataRegion ? &meta : nullptr;
        if (!slot) {
            if (required)
                bad(_("the image requires a region mica does not know"));
            continue;
        }
        if (*slot)
            bad(_("a region appears twice in the region table"));
        if (r.offset % kMiB || r.length % kMiB || r.offset < kHeaderArea || r.length == 0)
            bad(_("a region is not on 1 MiB boundaries or lies in the header area"));
        if (r.offset > fileSize || fileSize - r.offset < r.length)
            bad(_("a region lies past the end of the file (truncated?)"));
        *slot = r;
    }
    if (!bat || !meta)
        bad(_("the region table lacks the BAT or the metadata region"));
    layout.batOffset = bat->offset;
    layout.batLength = bat->length;
    layout.metadataOffset = meta->offset;
    layout.metadataLength = meta->length;
}

// The metadata items mica needs, from the metadata table.
void readMetadata(const ReadAt& read, VhdxLayout& layout)
{
    std::vector<uint8_t> t(kMetadataTableSize);
    read(layout.metadataOffset, t.data(), t.size());
    if (std::memcmp(t.data() + metadata::kSignature, "metadata", 8) != 0)
        bad(_("no metadata table where the region table points"));
    uint16_t count = loadLe<uint16_t>(t.data() + metadata::kEntryCount);
    if (count > kMaxEntries)
        bad(_("the metadata table has too many entries"));
    struct Item {
        const Guid& id;
        uint32_t length;
        std::optional<std::array<uint8_t, 8>> value;
    } items[] = {{kFileParameters, 8, {}}, {kVirtualDiskSize, 8, {}}, {kLogicalSectorSize, 4, {}},
                 {kPhysicalSectorSize, 4, {}}};
    for (uint16_t i = 0; i < count; ++i) {
        const uint8_t* e = t.data() + metadata::kEntriesAt + i * metadata::kEntrySize;
        Guid id = loadGuid(e + metadata::kGuid);
        uint32_t offset = loadLe<uint32_t>(e + metadata::kOffset), length = loadLe<uint32_t>(e + metadata::kLength);
        bool required = loadLe<uint32_t>(e + metadata::kFlags) & metadata::kIsRequired;
        if (id == kParentLocator)
            bad(_("differencing images (with a parent) are not supported"));
        if (length && (offset < kMetadataTableSize || offset > layout.metadataLength ||
                       layout.metadataLength - offset < length))
            bad(_("a metadata item lies outside the metadata region"));
        auto item = std::find_if(std::begin(items), std::end(items), [&](const Item& it) { return it.id == id; });
        if (item == std::end(items)) {
            if (required && id != kVirtualDiskId)
                bad(_("the image requires a metadata item mica does not know"));
            continue;
        }
        if (item->value)
            bad(_("a metadata item appears twice"));
        if (length != item->length)
            bad(_("a metadata item has the wrong length"));
        item->value.emplace();
        read(layout.metadataOffset + offset, item->value->data(), length);
    }
    for (const auto& item : items)
        if (!item.value)
            bad(_("a required metadata item is missing (file parameters, disk size or sector sizes)"));
    const uint8_t* parameters = items[0].value->data();
    layout.blockSize = loadLe<uint32_t>(parameters);
    uint32_t flags = loadLe<uint32_t>(parameters + 4);
    layout.leaveAllocated = flags & kLeaveBlocksAllocated;
    layout.size = loadLe<uint64_t>(items[1].value->data());
    layout.logicalSectorSize = loadLe<uint32_t>(items[2].value->data());
    layout.physicalSectorSize = loadLe<uint32_t>(items[3].value->data());
    if (flags & kHasParent)
        bad(_("differencing images (with a parent) are not supported"));
    if (layout.blockSize < kMiB || layout.blockSize > 256 * kMiB || (layout.blockSize & (layout.blockSize - 1)))
        bad(_("block size ") + std::to_string(layout.blockSize) + _(" is not a power of two from 1 to 256 MiB"));
    if (layout.logicalSectorSize != 512 && layout.logicalSectorSize != 4096)
        bad(_("the logical sector size is neither 512 nor 4096"));
    if (layout.physicalSectorSize != 512 && layout.physicalSectorSize != 4096)
        bad(_("the physical sector size is neither 512 nor 4096"));
    if (layout.size > kMaxSize)
        bad(_("the disk is larger than the format's 64 TiB"));
    if (layout.batEntries() * 8 > layout.batLength)
        bad(_("the BAT region is too small for the disk size"));
}

}  // namespace

VhdxLayout parseVhdx(const ReadAt& read, uint64_t fileSize)
{
    char signature[8];
    read(0, signature, sizeof signature);
    if (std::memcmp(signature, kFileSignature, 8) != 0)
        bad(_("not a VHDX image (no vhdxfile signature)"));
    VhdxLayout layout;
    layout.header = readHeader(read);
    const VhdxHeader& h = layout.header;
    if (h.logLength % kMiB || h.logOffset % kMiB || (h.logLength && h.logOffset < kHeaderArea))
        bad(_("the log is not on 1 MiB boundaries or lies in the header area"));
    if (h.logOffset > fileSize || fileSize - h.logOffset < h.logLength)
        bad(_("the log lies past the end of the file (truncated?)"));
    readRegions(read, fileSize, layout);
    // The log, BAT and metadata regions, none on another.
    const Region regions[] = {{h.logOffset, h.logLength},
                              {layout.batOffset, layout.batLength},
                              {layout.metadataOffset, layout.metadataLength}};
    for (size_t i = 0; i < 3; ++i)
        for (size_t j = i + 1; j < 3; ++j)
            if (regions[i].length && regions[j].length && regions[i].offset < regions[j].offset + regions[j].length &&
                regions[j].offset < regions[i].offset + regions[i].length)
                bad(_("the log, BAT and metadata regions overlap"));
    readMetadata(read, layout);
    return layout;
}

std::array<uint8_t, VhdxHeader::kSize> encodeVhdxHeader(const VhdxHeader& h)
{
    std::array<uint8_t, VhdxHeader::kSize> b{};
    std::memcpy(b.data() + header::kSignature, "head", 4);
    storeLe<uint64_t>(b.data() + header::kSequence, h.sequence);
    std::memcpy(b.data() + header::kFileWriteGuid, h.fileWriteGuid.data(), 16);
    std::memcpy(b.data() + header::kDataWriteGuid, h.dataWriteGuid.data(), 16);
    std::memcpy(b.data() + header::kLogGuid, h.logGuid.data(), 16);
    storeLe<uint16_t>(b.data() + header::kLogVersion, 0);
    storeLe<uint16_t>(b.data() + header::kVersion, 1);
    storeLe<uint32_t>(b.data() + header::kLogLength, h.logLength);
    storeLe<uint64_t>(b.data() + header::kLogOffset, h.logOffset);
    storeLe<uint32_t>(b.data() + header::kChecksum, crc32c(b.data(), b.size()));
    return b;
}

}  // namespace mica::block
