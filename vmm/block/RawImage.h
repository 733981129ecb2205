// A raw disk image: a regular file or a block device, read and written in place. Also
// the file under every other format (a qcow2 image's container is read through one).
// Opening takes an flock on it (exclusive when writable, shared when read-only or when
// the image is shared on purpose, libvirt's <shareable/>), so a second VMM cannot open an
// image another one writes to unless both said it is shared.
#pragma once

#include "DiskImage.h"

namespace mica::block {

class RawImage : public DiskImage {
public:
    // Throws Error "PATH: reason" when it cannot be opened, sized or locked. `opened`:
    // the caller's open file for `path` (VmConfig::handedFile), used instead of opening
    // it; it must be open for writing unless readOnly. `lock` false: no lock is taken,
    // the caller holds one on the file already.
    RawImage(const std::string& path, bool readOnly, bool direct, bool shared = false, UniqueFd opened = UniqueFd(),
             bool lock = true);

    // The file's size when opened (a format that grows its file keeps its own end).
    uint64_t size() const override { return size_; }
    bool readOnly() const override { return readOnly_; }
    const std::string& path() const override { return path_; }
    // O_DIRECT alignment is handled with a bounce buffer; past the end of the file reads zeroes.
    void readv(uint64_t offset, const std::vector<iovec>& iov) override;
    void writev(uint64_t offset, const std::vector<iovec>& iov) override;
    void flush() override;
    // Deallocates (discard: a hole in a file) or zeroes [offset, offset + length).
    void discard(uint64_t offset, uint64_t length) override;
    void writeZeroes(uint64_t offset, uint64_t length) override;
    // Single-buffer forms, for the formats' own metadata.
    void read(uint64_t offset, void* data, size_t length) { readv(offset, {iovec{data, length}}); }
    void write(uint64_t offset, const void* data, size_t length)
    {
        writev(offset, {iovec{const_cast<void*>(data), length}});
    }
    int fd() const { return fd_.get(); }
    void shareLock() override;
    // Whether a transfer needs readv/writev's bounce buffer: O_DIRECT, and the offset, a
    // buffer or a length off the 4 KiB grid (io_uring, which has none, leaves those to them).
    bool needsBounce(uint64_t offset, const std::vector<iovec>& iov) const;

private:
    // A file grows (sparse); a block device's size is the device's: it must hold newSize
    // already (the host grew it).
    void grow(uint64_t newSize) override;

    void transfer(uint64_t offset, const std::vector<iovec>& iov, bool write);
    std::string path_;
    bool readOnly_, direct_, locked_, blockDevice_ = false;
    UniqueFd fd_;
    uint64_t size_ = 0;
};

}  // namespace mica::block
