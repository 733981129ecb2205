// A VHD image (Microsoft's Virtual Hard Disk Image Format Specification; QEMU's "vpc"):
// fixed disks (the guest's bytes, then a 512-byte footer) and dynamic disks (a footer
// copy at 0, a dynamic disk header, a block allocation table, and blocks of a sector
// bitmap followed by data, allocated at the end of the file, where the footer moves
// on). Differencing disks (a parent image) are refused: mica has no VHD backing files.
// Metadata is written through as it changes; a mutex serialises requests, which may
// come from several queue threads.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "DiskImage.h"
#include "RawImage.h"

namespace mica::block {

class VhdImage : public DiskImage {
public:
    // Throws Error "vhd: reason" (the caller prefixes the path) when the image's
    // metadata does not parse or does not fit in its file.
    explicit VhdImage(std::unique_ptr<RawImage> file);

    // The guest's disk size, from the footer alone (no BAT read): for virtmicad.
    static ImageInfo readInfo(const ReadAt& read, uint64_t fileSize);

    uint64_t size() const override { return size_; }
    bool readOnly() const override { return file_->readOnly(); }
    const std::string& path() const override { return file_->path(); }
    void shareLock() override { file_->shareLock(); }
    void readv(uint64_t offset, const std::vector<iovec>& iov) override;
    void writev(uint64_t offset, const std::vector<iovec>& iov) override;
    void flush() override;
    void discard(uint64_t offset, uint64_t length) override;
    void writeZeroes(uint64_t offset, uint64_t length) override;

    static constexpr uint32_t kUnallocated = 0xffffffff;  // a BAT entry with no block

private:
    void grow(uint64_t newSize) override;  // refused: the BAT would have to grow

    enum class Zeroing { Discard, WriteZeroes };
    void checkRange(uint64_t offset, uint64_t length) const;
    void zeroRange(uint64_t offset, uint64_t length, Zeroing how);
    uint64_t blockStart(uint64_t block) const { return uint64_t{bat_[block]} * 512; }
    bool allocated(uint64_t block) const { return block < bat_.size() && bat_[block] != kUnallocated; }
    void readBlock(uint64_t block, uint64_t inBlock, const std::vector<iovec>& iov);
    void writeBlock(uint64_t block, uint64_t inBlock, const std::vector<iovec>& iov);
    void allocateBlock(uint64_t block);
    void markWritten(uint64_t block, uint64_t inBlock, uint64_t length);
    void writeBatEntry(uint64_t block);

    std::unique_ptr<RawImage> file_;
    std::mutex mutex_;
    bool fixed_ = true;
    uint64_t size_ = 0;
    std::array<uint8_t, 512> footer_{};
    // Dynamic disks.
    uint32_t blockSize_ = 0, bitmapSize_ = 0;
    uint64_t batOffset_ = 0;
    std::vector<uint32_t> bat_;           // in host order
    std::vector<bool> bitmapFull_;        // a block's sectors all marked written (no need to read its bitmap)
    uint64_t end_ = 0;                    // where the footer is and the next block goes
};

}  // namespace mica::block
