#include "VhdImage.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "BigEndian.h"
#include "BlockSplit.h"
#include "Error.h"
#include "i18n.h"

namespace mica::block {

namespace {

constexpr uint64_t kSector = 512;

// The hard disk footer: 512 bytes, big-endian fields at these offsets.
namespace footer {
constexpr size_t kCookie = 0, kDataOffset = 16, kCreatorApp = 28, kCurrentSize = 48, kCylinders = 56, kHeads = 58,
                 kSectorsPerTrack = 59, kDiskType = 60, kChecksum = 64, kSize = 512;
}
// The dynamic disk header: 1024 bytes, big-endian.
namespace dynamic {
constexpr size_t kCookie = 0, kTableOffset = 16, kMaxTableEntries = 28, kBlockSize = 32, kChecksum = 36, kSize = 1024;
}
constexpr char kFooterCookie[] = "conectix", kDynamicCookie[] = "cxsparse";
constexpr uint32_t kFixed = 2, kDynamic = 3, kDifferencing = 4;

// Limits past which an image is corrupt or hostile, not big: the format's own maximum
// disk (QEMU's VHD_MAX_SECTORS), blocks from a sector to 256 MiB (2 MiB is the norm),
// and a BAT mica keeps in memory (16 MiB: a full-size disk of 512 KiB blocks).
constexpr uint64_t kMaxDynamicSize = uint64_t{0xff000000} * kSector;
constexpr uint32_t kMaxBlockSize = 256u << 20;
constexpr uint64_t kMaxBatEntries = uint64_t{1} << 22;
// CHS geometry at its maximum says nothing about the size (QEMU's VHD_MAX_GEOMETRY).
constexpr uint64_t kMaxGeometrySectors = uint64_t{65535} * 16 * 255;

[[noreturn]] void bad(const std::string& why)
{
    throw Error("vhd: " + why);
}

// "One's complement of the sum of all the bytes ... without the checksum field".
uint32_t checksum(const uint8_t* data, size_t length, size_t checksumAt)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < length; ++i)
        if (i < checksumAt || i >= checksumAt + 4)
            sum += data[i];
    return ~sum;
}

bool validFooter(const std::array<uint8_t, 512>& f)
{
    return std::memcmp(f.data() + footer::kCookie, kFooterCookie, 8) == 0 &&
           checksum(f.data(), footer::kSize, footer::kChecksum) == loadBe<uint32_t>(f.data() + footer::kChecksum);
}

struct Footer {
    std::array<uint8_t, 512> bytes{};
    bool atEnd = true;  // false: only the copy at offset 0 was valid
    uint32_t type = 0;
    uint64_t size = 0;
};

// The footer at the end of the file, or, when the end holds none (a dynamic disk whose
// writer stopped between a new block and the footer after it), the copy a dynamic disk
// keeps at offset 0. The end comes first: a fixed disk's guest may have written anything
// at offset 0, a VHD footer included.
Footer readFooter(const ReadAt& read, uint64_t fileSize)
{
    if (fileSize < footer::kSize)
        bad(_("the file is too short to hold a footer (truncated?)"));
    Footer f;
    read(fileSize - footer::kSize, f.bytes.data(), footer::kSize);
    if (!validFooter(f.bytes)) {
        bool cookieAtEnd = std::memcmp(f.bytes.data(), kFooterCookie, 8) == 0;
        read(0, f.bytes.data(), footer::kSize);
        if (!validFooter(f.bytes) || loadBe<uint32_t>(f.bytes.data() + footer::kDiskType) != kDynamic)
            bad(cookieAtEnd ? _("the footer's checksum is wrong")
                            : _("no footer at the end of the file (not a VHD image, or truncated)"));
        f.atEnd = false;
    }
    const uint8_t* b = f.bytes.data();
    f.type = loadBe<uint32_t>(b + footer::kDiskType);
    if (f.type == kDifferencing)
        bad(_("differencing disks (with a parent image) are not supported"));
    if (f.type != kFixed && f.type != kDynamic)
        bad(_("unknown disk type ") + std::to_string(f.type));
    // Virtual PC and QEMU before force_size sized disks by their CHS geometry, and
    // QEMU reads their images so; everyone else (Hyper-V, disk2vhd, XenServer, Azure,
    // qemu-img -o force_size) means the current size. A maximal geometry may stand for
    // a larger disk: then the current size too.
    uint64_t chsSectors = uint64_t{loadBe<uint16_t>(b + footer::kCylinders)} * b[footer::kHeads] *
                          b[footer::kSectorsPerTrack];
    bool chsCreator = std::memcmp(b + footer::kCreatorApp, "vpc ", 4) == 0 ||
                      std::memcmp(b + footer::kCreatorApp, "qemu", 4) == 0;
    f.size = chsCreator && chsSectors != kMaxGeometrySectors ? chsSectors * kSector
                                                             : loadBe<uint64_t>(b + footer::kCurrentSize);
    if (f.type == kFixed && f.size > fileSize - footer::kSize)
        bad(_("the disk is larger than the file holds (truncated?)"));
    if (f.type == kDynamic && f.size > kMaxDynamicSize)
        bad(_("the disk is larger than the format's 2040 GiB"));
    return f;
}

}  // namespace

ImageInfo VhdImage::readInfo(const ReadAt& read, uint64_t fileSize)
{
    return ImageInfo{readFooter(read, fileSize).size, std::nullopt};
}

VhdImage::VhdImage(std::unique_ptr<RawImage> imageFile) : file_(std::move(imageFile))
{
    const uint64_t fileSize = file_->size();
    ReadAt read = [this](uint64_t offset, void* data, size_t length) { file_->read(offset, data, length); };
    Footer f = readFooter(read, fileSize);
    footer_ = f.bytes;
    size_ = f.size;
    fixed_ = f.type == kFixed;
    if (fixed_)
        return;

    // The dynamic disk header, where the footer says.
    uint64_t headerAt = loadBe<uint64_t>(footer_.data() + footer::kDataOffset);
    if (headerAt > fileSize || fileSize - headerAt < dynamic::kSize)
        bad(_("the dynamic disk header lies outside the file"));
    uint8_t h[dynamic::kSize];
    read(headerAt, h, sizeof h);
    if (std::memcmp(h + dynamic::kCookie, kDynamicCookie, 8) != 0)
        bad(_("no dynamic disk header where the footer points"));
    if (checksum(h, sizeof h, dynamic::kChecksum) != loadBe<uint32_t>(h + dynamic::kChecksum))
        bad(_("the dynamic disk header's checksum is wrong"));
    blockSize_ = loadBe<uint32_t>(h + dynamic::kBlockSize);
    if (blockSize_ < kSector || blockSize_ > kMaxBlockSize || (blockSize_ & (blockSize_ - 1)))
        bad(_("block size ") + std::to_string(blockSize_) + _(" is not a power of two from 512 bytes to 256 MiB"));
    // A bit per sector, padded to whole sectors.
    bitmapSize_ = static_cast<uint32_t>((blockSize_ / kSector / 8 + kSector - 1) / kSector * kSector);
    uint64_t entries = loadBe<uint32_t>(h + dynamic::kMaxTableEntries);
    if (entries > kMaxBatEntries)
        bad(_("the block allocation table is too large"));
    if (entries * blockSize_ < size_)
        bad(_("the block allocation table is too small for the disk size"));
    batOffset_ = loadBe<uint64_t>(h + dynamic::kTableOffset);
    const uint64_t batBytes = (entries * 4 + kSector - 1) / kSector * kSector;
    if (batOffset_ > fileSize || fileSize - batOffset_ < entries * 4)
        bad(_("the block allocation table lies outside the file (truncated?)"));
    if (batOffset_ < headerAt + dynamic::kSize && headerAt < batOffset_ + batBytes)
        bad(_("the block allocation table overlaps the dynamic disk header"));
    std::vector<uint8_t> raw(entries * 4);
    if (entries)  // (an empty vector has no buffer to read into)
        read(batOffset_, raw.data(), raw.size());
    bat_.resize(entries);
    for (uint64_t i = 0; i < entries; ++i)
        bat_[i] = loadBe<uint32_t>(raw.data() + i * 4);
    bitmapFull_.assign(entries, false);

    // Every block inside the file (before the footer at its end), clear of the metadata
    // and of every other block.
    const uint64_t span = uint64_t{bitmapSize_} + blockSize_;
    const uint64_t blocksEnd = f.atEnd ? fileSize - footer::kSize : fileSize;
    const std::pair<uint64_t, uint64_t> metadata[] = {
        {0, footer::kSize}, {headerAt, headerAt + dynamic::kSize}, {batOffset_, batOffset_ + batBytes}};
    std::vector<uint64_t> starts;
    end_ = 0;
    for (auto [from, to] : metadata)
        end_ = std::max(end_, to);
    for (uint64_t i = 0; i < entries; ++i) {
        if (bat_[i] == kUnallocated)
            continue;
        uint64_t start = blockStart(i);
        if (start > blocksEnd || blocksEnd - start < span)
            bad(_("block ") + std::to_string(i) + _(" lies past the end of the file (truncated?)"));
        for (auto [from, to] : metadata)
            if (start < to && from < start + span)
                bad(_("block ") + std::to_string(i) + _(" overlaps the image's metadata"));
        starts.push_back(start);
        end_ = std::max(end_, start + span);
    }
    std::sort(starts.begin(), starts.end());
    for (size_t i = 1; i < starts.size(); ++i)
        if (starts[i] - starts[i - 1] < span)
            bad(_("two blocks overlap"));
    // New blocks go where the footer is (the end of the file, or past a block written
    // just before a crash), on a sector boundary.
    end_ = std::max(end_, blocksEnd);
    end_ = (end_ + kSector - 1) / kSector * kSector;
    if (!f.atEnd && !readOnly())
        file_->write(end_, footer_.data(), footer_.size());
}

void VhdImage::checkRange(uint64_t offset, uint64_t length) const
{
    if (offset > size_ || size_ - offset < length)
        throw Error("vhd: " + std::string(_("a request past the end of the disk")));
}

void VhdImage::readv(uint64_t offset, const std::vector<iovec>& iov)
{
    const uint64_t length = iovLength(iov);
    checkRange(offset, length);
    if (fixed_)  // the guest's bytes in place: no metadata to guard
        return file_->readv(offset, iov);
    std::lock_guard lock(mutex_);
    forEachBlock(offset, length, blockSize_, [&](uint64_t block, uint64_t inBlock, uint64_t done, uint64_t n) {
        readBlock(block, inBlock, sliceIov(iov, done, n));
    });
}

void VhdImage::readBlock(uint64_t block, uint64_t inBlock, const std::vector<iovec>& iov)
{
    if (!allocated(block))
        return zeroIov(iov);
    const uint64_t dataAt = blockStart(block) + bitmapSize_;
    file_->readv(dataAt + inBlock, iov);
    if (bitmapFull_[block])
        return;
    // Sectors the bitmap says were never written read as zeroes, whatever the file
    // holds there (bit 7 of byte 0 is the block's first sector).
    std::vector<uint8_t> bitmap(bitmapSize_);
    file_->read(blockStart(block), bitmap.data(), bitmap.size());
    bitmapFull_[block] = std::all_of(bitmap.begin(), bitmap.begin() + blockSize_ / kSector / 8,
                                     [](uint8_t b) { return b == 0xff; });
    if (bitmapFull_[block])
        return;
    const uint64_t length = iovLength(iov);
    for (uint64_t at = inBlock; at < inBlock + length;) {
        uint64_t sector = at / kSector, sectorEnd = std::min((sector + 1) * kSector, inBlock + length);
        if (!(bitmap[sector / 8] & (0x80 >> (sector % 8))))
            zeroIov(sliceIov(iov, at - inBlock, sectorEnd - at));
        at = sectorEnd;
    }
}

void VhdImage::writev(uint64_t offset, const std::vector<iovec>& iov)
{
    const uint64_t length = iovLength(iov);
    checkRange(offset, length);
    if (readOnly())
        throw Error("vhd: " + std::string(_("read-only")));
    if (fixed_)
        return file_->writev(offset, iov);
    std::lock_guard lock(mutex_);
    forEachBlock(offset, length, blockSize_, [&](uint64_t block, uint64_t inBlock, uint64_t done, uint64_t n) {
        writeBlock(block, inBlock, sliceIov(iov, done, n));
    });
}

void VhdImage::writeBlock(uint64_t block, uint64_t inBlock, const std::vector<iovec>& iov)
{
    if (!allocated(block))
        allocateBlock(block);
    else
        markWritten(block, inBlock, iovLength(iov));
    file_->writev(blockStart(block) + bitmapSize_ + inBlock, iov);
}

// A new block at the end of the file: its bitmap all written (the data past the old end
// of the file reads as zeroes, so every sector holds what it should), then the footer
// after it, and only then, once both are on disk, the BAT entry that makes it part of
// the disk: a crash in between leaves an unused block, never a BAT entry pointing past
// the end of the file.
void VhdImage::allocateBlock(uint64_t block)
{
    const uint64_t span = uint64_t{bitmapSize_} + blockSize_;
    if (end_ / kSector >= kUnallocated)
        bad(_("the file is full: a new block's offset does not fit in the block allocation table"));
    const uint64_t at = end_;
    std::vector<uint8_t> bitmap(bitmapSize_, 0xff);
    file_->write(at, bitmap.data(), bitmap.size());
    file_->write(at + span, footer_.data(), footer_.size());
    file_->flush();
    bat_[block] = static_cast<uint32_t>(at / kSector);
    bitmapFull_[block] = true;
    end_ = at + span;
    writeBatEntry(block);
}

// Sets the bitmap bits of the sectors [inBlock, inBlock + length) of an allocated block
// about to be written. A sector newly marked that the write covers only in part is
// zeroed first: the rest of it must keep reading as zeroes.
void VhdImage::markWritten(uint64_t block, uint64_t inBlock, uint64_t length)
{
    if (bitmapFull_[block])
        return;
    std::vector<uint8_t> bitmap(bitmapSize_);
    file_->read(blockStart(block), bitmap.data(), bitmap.size());
    bool changed = false;
    const uint64_t first = inBlock / kSector, last = (inBlock + length - 1) / kSector;
    for (uint64_t sector = first; sector <= last; ++sector) {
        uint8_t bit = static_cast<uint8_t>(0x80 >> (sector % 8));
        if (bitmap[sector / 8] & bit)
            continue;
        bool partial = (sector == first && inBlock % kSector) || (sector == last && (inBlock + length) % kSector);
        if (partial) {
            static constexpr uint8_t kZeroSector[kSector] = {};
            file_->write(blockStart(block) + bitmapSize_ + sector * kSector, kZeroSector, kSector);
        }
        bitmap[sector / 8] |= bit;
        changed = true;
    }
    if (changed)
        file_->write(blockStart(block), bitmap.data(), bitmap.size());
}

void VhdImage::writeBatEntry(uint64_t block)
{
    uint8_t entry[4];
    storeBe<uint32_t>(entry, bat_[block]);
    file_->write(batOffset_ + block * 4, entry, sizeof entry);
}

void VhdImage::grow(uint64_t)
{
    throw Error(path() + ": " + _("resizing a VHD image is not supported"));
}

void VhdImage::flush()
{
    std::lock_guard lock(mutex_);
    file_->flush();
}

void VhdImage::discard(uint64_t offset, uint64_t length)
{
    zeroRange(offset, length, Zeroing::Discard);
}

void VhdImage::writeZeroes(uint64_t offset, uint64_t length)
{
    zeroRange(offset, length, Zeroing::WriteZeroes);
}

// Whole blocks of a dynamic disk leave the BAT (reading as zeroes) and give their space
// back to the host; parts of blocks are zeroed in place. Unallocated blocks already read
// as zeroes.
void VhdImage::zeroRange(uint64_t offset, uint64_t length, Zeroing how)
{
    checkRange(offset, length);
    if (readOnly())
        throw Error("vhd: " + std::string(_("read-only")));
    if (fixed_)
        return how == Zeroing::Discard ? file_->discard(offset, length) : file_->writeZeroes(offset, length);
    std::lock_guard lock(mutex_);
    forEachBlock(offset, length, blockSize_, [&](uint64_t block, uint64_t inBlock, uint64_t, uint64_t n) {
        if (!allocated(block))
            return;
        if (n == blockSize_) {
            uint64_t start = blockStart(block);
            bat_[block] = kUnallocated;
            writeBatEntry(block);
            file_->discard(start, uint64_t{bitmapSize_} + blockSize_);
            return;
        }
        // Sectors the bitmap calls unwritten read as zeroes already; the rest are zeroed.
        file_->writeZeroes(blockStart(block) + bitmapSize_ + inBlock, n);
    });
}

}  // namespace mica::block
