// A VHDX image (MS-VHDX): fixed and dynamic disks, read and written. Payload blocks are
// found through the BAT (VhdxLayout.h says where everything is); blocks not present,
// undefined, zero or unmapped read as zeroes, and a write to one allocates a new block
// at the end of the file (on a 1 MiB boundary). Opened writable, the image first gets
// new file and data write GUIDs in a header of a higher sequence number, as the
// specification asks of any writer. Differencing images (a parent) are refused, and so
// is an image whose log holds entries not yet replayed. Metadata is written through as
// it changes; a mutex serialises requests, which may come from several queue threads.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "DiskImage.h"
#include "RawImage.h"
#include "VhdxLayout.h"

namespace mica::block {

class VhdxImage : public DiskImage {
public:
    // Throws Error "vhdx: reason" (the caller prefixes the path).
    explicit VhdxImage(std::unique_ptr<RawImage> file);

    // The guest's disk size, from the headers, region table and metadata (no BAT read).
    static ImageInfo readInfo(const ReadAt& read, uint64_t fileSize);

    uint64_t size() const override { return layout_.size; }
    bool readOnly() const override { return file_->readOnly(); }
    const std::string& path() const override { return file_->path(); }
    void shareLock() override { file_->shareLock(); }
    void readv(uint64_t offset, const std::vector<iovec>& iov) override;
    void writev(uint64_t offset, const std::vector<iovec>& iov) override;
    void flush() override;
    void discard(uint64_t offset, uint64_t length) override;
    void writeZeroes(uint64_t offset, uint64_t length) override;

private:
    void grow(uint64_t newSize) override;  // refused: the BAT would have to grow

    enum class Zeroing { Discard, WriteZeroes };
    void checkRange(uint64_t offset, uint64_t length) const;
    void zeroRange(uint64_t offset, uint64_t length, Zeroing how);
    void loadBat();
    void updateHeaders();
    // The file offset of payload block `block`, or 0 when it reads as zeroes.
    uint64_t blockOffset(uint64_t block) const;
    void allocateBlock(uint64_t block);
    void setBatEntry(uint64_t block, uint64_t entry);

    std::unique_ptr<RawImage> file_;
    std::mutex mutex_;
    VhdxLayout layout_;
    std::vector<uint64_t> bat_;  // payload and sector bitmap entries, as in the file
    uint64_t end_ = 0;           // where the next block goes
};

}  // namespace mica::block
