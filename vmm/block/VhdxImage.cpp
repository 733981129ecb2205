#include "VhdxImage.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "BlockSplit.h"
#include "Error.h"
#include "LittleEndian.h"
#include "i18n.h"

namespace mica::block {

namespace {

// A BAT entry: the block's state in bits 0-2, its file offset in MiB in bits 20-63.
constexpr uint64_t kStateMask = 7, kOffsetMask = ~((uint64_t{1} << 20) - 1);
// Payload block states: all but fully present read as zeroes in an image with no
// parent; partially present belongs to differencing images.
constexpr uint64_t kNotPresent = 0, kUndefined = 1, kZero = 2, kUnmapped = 3, kFullyPresent = 6,
                   kPartiallyPresent = 7;
// A BAT mica keeps in memory: 256 MiB, a 32 TiB disk of 1 MiB blocks.
constexpr uint64_t kMaxBatEntries = uint64_t{1} << 25;

[[noreturn]] void bad(const std::string& why)
{
    throw Error("vhdx: " + why);
}

Guid randomGuid()
{
    Guid g;
    for (size_t done = 0; done < g.size();) {
        ssize_t n = ::getrandom(g.data() + done, g.size() - done, 0);
        if (n < 0 && errno != EINTR)
            throw systemError("vhdx: getrandom");
        done += n > 0 ? static_cast<size_t>(n) : 0;
    }
    g[7] = static_cast<uint8_t>((g[7] & 0x0f) | 0x40);  // version 4 (random), stored little-endian
    g[8] = static_cast<uint8_t>((g[8] & 0x3f) | 0x80);  // the RFC 4122 variant
    return g;
}

}  // namespace

ImageInfo VhdxImage::readInfo(const ReadAt& read, uint64_t fileSize)
{
    return ImageInfo{parseVhdx(read, fileSize).size, std::nullopt};
}

VhdxImage::VhdxImage(std::unique_ptr<RawImage> imageFile) : file_(std::move(imageFile))
{
    layout_ = parseVhdx([this](uint64_t offset, void* data, size_t length) { file_->read(offset, data, length); },
                        file_->size());
    const Guid& log = layout_.header.logGuid;
    if (std::any_of(log.begin(), log.end(), [](uint8_t b) { return b != 0; }))
        bad(_("the image's log holds writes not yet replayed (it was not closed cleanly); "
              "replay them with qemu-img check -r all"));
    loadBat();
    if (!readOnly())
        updateHeaders();
}

// The BAT, each payload block present inside the file, clear of the log, the BAT, the
// metadata and every other block.
void VhdxImage::loadBat()
{
    const uint64_t entries = layout_.batEntries(), fileSize = file_->size(), blockSize = layout_.blockSize;
    if (entries > kMaxBatEntries)
        bad(_("the BAT is too large (") + std::to_string(entries) + _(" entries)"));
    std::vector<uint8_t> raw(entries * 8);
    if (entries)  // (an empty vector has no buffer to read into)
        file_->read(layout_.batOffset, raw.data(), raw.size());
    bat_.resize(entries);
    for (uint64_t i = 0; i < entries; ++i)
        bat_[i] = loadLe<uint64_t>(raw.data() + i * 8);

    const std::pair<uint64_t, uint64_t> regions[] = {
        {0, kMiB},
        {layout_.header.logOffset, layout_.header.logOffset + layout_.header.logLength},
        {layout_.batOffset, layout_.batOffset + layout_.batLength},
        {layout_.metadataOffset, layout_.metadataOffset + layout_.metadataLength}};
    end_ = fileSize;
    for (auto [from, to] : regions)
        end_ = std::max(end_, to);
    std::vector<uint64_t> starts;
    for (uint64_t block = 0; block < layout_.payloadBlocks(); ++block) {
        uint64_t entry = bat_[layout_.batIndex(block)], state = entry & kStateMask;
        if (state == kPartiallyPresent)
            bad(_("block ") + std::to_string(block) + _(" is partially present, which only differencing images have"));
        if (state != kNotPresent && state != kUndefined && state != kZero && state != kUnmapped &&
            state != kFullyPresent)
            bad(_("block ") + std::to_string(block) + _(" has an invalid state"));
        if (state != kFullyPresent)
            continue;
        // The last block may stop in the file where the disk does.
        uint64_t start = entry & kOffsetMask, used = std::min(blockSize, layout_.size - block * blockSize);
        if (start > fileSize || fileSize - start < used)
            bad(_("block ") + std::to_string(block) + _(" lies past the end of the file (truncated?)"));
        for (auto [from, to] : regions)
            if (start < to && from < start + blockSize)
                bad(_("block ") + std::to_string(block) + _(" overlaps the image's metadata"));
        starts.push_back(start);
        end_ = std::max(end_, start + blockSize);
    }
    std::sort(starts.begin(), starts.end());
    for (size_t i = 1; i < starts.size(); ++i)
        if (starts[i] - starts[i - 1] < blockSize)
            bad(_("two blocks overlap"));
    end_ = (end_ + kMiB - 1) / kMiB * kMiB;
}

// New file and data write GUIDs before the first write, as MS-VHDX asks: written to the
// older header with the next sequence number, then to the other, so both copies are
// current and a torn write leaves the previous header valid.
void VhdxImage::updateHeaders()
{
    VhdxHeader h = layout_.header;
    if (h.sequence > UINT64_MAX - 2)
        bad(_("the header's sequence number is exhausted"));
    h.fileWriteGuid = randomGuid();
    h.dataWriteGuid = randomGuid();
    for (int copy = 0; copy < 2; ++copy) {
        ++h.sequence;
        h.slot ^= 1;
        auto bytes = encodeVhdxHeader(h);
        file_->write(VhdxHeader::kAt[h.slot], bytes.data(), bytes.size());
        file_->flush();
    }
    layout_.header = h;
}

void VhdxImage::checkRange(uint64_t offset, uint64_t length) const
{
    if (offset > layout_.size || layout_.size - offset < length)
        throw Error("vhdx: " + std::string(_("a request past the end of the disk")));
}

uint64_t VhdxImage::blockOffset(uint64_t block) const
{
    uint64_t entry = bat_[layout_.batIndex(block)];
    return (entry & kStateMask) == kFullyPresent ? entry & kOffsetMask : 0;
}

void VhdxImage::readv(uint64_t offset, const std::vector<iovec>& iov)
{
    const uint64_t length = iovLength(iov);
    checkRange(offset, length);
    std::lock_guard lock(mutex_);
    forEachBlock(offset, length, layout_.blockSize, [&](uint64_t block, uint64_t inBlock, uint64_t done, uint64_t n) {
        auto part = sliceIov(iov, done, n);
        if (uint64_t at = blockOffset(block))
            file_->readv(at + inBlock, part);
        else
            zeroIov(part);
    });
}

void VhdxImage::writev(uint64_t offset, const std::vector<iovec>& iov)
{
    const uint64_t length = iovLength(iov);
    checkRange(offset, length);
    if (readOnly())
        throw Error("vhdx: " + std::string(_("read-only")));
    std::lock_guard lock(mutex_);
    forEachBlock(offset, length, layout_.blockSize, [&](uint64_t block, uint64_t inBlock, uint64_t done, uint64_t n) {
        auto part = sliceIov(iov, done, n);
        if (uint64_t at = blockOffset(block))
            return file_->writev(at + inBlock, part);
        allocateBlock(block);
        file_->writev(blockOffset(block) + inBlock, part);
    });
}

// A new block at the end of the file: the file grows by a block of zeroes (every byte
// the write leaves reads as zeroes, as the block did) through a write of its last byte
// (the disk threads' seccomp filter has no ftruncate), and only once that is on disk
// does the BAT entry name the block: a crash in between leaves unused space, never an
// entry pointing past the end of the file.
void VhdxImage::allocateBlock(uint64_t block)
{
    const uint64_t at = end_;
    const uint8_t zero = 0;
    file_->write(at + layout_.blockSize - 1, &zero, 1);
    end_ = at + layout_.blockSize;
    file_->flush();
    setBatEntry(block, at | kFullyPresent);
}

void VhdxImage::setBatEntry(uint64_t block, uint64_t entry)
{
    uint64_t index = layout_.batIndex(block);
    bat_[index] = entry;
    uint8_t bytes[8];
    storeLe<uint64_t>(bytes, entry);
    file_->write(layout_.batOffset + index * 8, bytes, sizeof bytes);
}

void VhdxImage::grow(uint64_t)
{
    throw Error(path() + ": " + _("resizing a VHDX image is not supported"));
}

void VhdxImage::flush()
{
    std::lock_guard lock(mutex_);
    file_->flush();
}

void VhdxImage::discard(uint64_t offset, uint64_t length)
{
    zeroRange(offset, length, Zeroing::Discard);
}

void VhdxImage::writeZeroes(uint64_t offset, uint64_t length)
{
    zeroRange(offset, length, Zeroing::WriteZeroes);
}

// Whole blocks become ZERO blocks and give their space back to the host, unless the
// image keeps its blocks allocated (a fixed disk): then, like parts of blocks, they are
// zeroed in place. Blocks not present already read as zeroes.
void VhdxImage::zeroRange(uint64_t offset, uint64_t length, Zeroing how)
{
    checkRange(offset, length);
    if (readOnly())
        throw Error("vhdx: " + std::string(_("read-only")));
    std::lock_guard lock(mutex_);
    forEachBlock(offset, length, layout_.blockSize, [&](uint64_t block, uint64_t inBlock, uint64_t, uint64_t n) {
        uint64_t at = blockOffset(block);
        if (!at)
            return;
        if (n == layout_.blockSize && !layout_.leaveAllocated) {
            setBatEntry(block, kZero);
            file_->discard(at, n);
        } else if (how == Zeroing::Discard) {
            file_->discard(at + inBlock, n);
        } else {
            file_->writeZeroes(at + inBlock, n);
        }
    });
}

}  // namespace mica::block
