// A raw disk image: a regular file or a block device, read and written in place.
// Opening takes an flock on it (exclusive when writable, shared when read-only or when
// the image is shared on purpose, libvirt's <shareable/>), so a second VMM cannot open an
// image another one writes to unless both said it is shared.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::block {

class RawImage {
public:
    // Throws Error "PATH: reason" when it cannot be opened, sized or locked. `opened`:
    // the caller's open file for `path` (VmConfig::handedFile), used instead of opening
    // it; it must be open for writing unless readOnly.
    RawImage(const std::string& path, bool readOnly, bool direct, bool shared = false, UniqueFd opened = UniqueFd());

    uint64_t size() const { return size_; }
    bool readOnly() const { return readOnly_; }
    const std::string& path() const { return path_; }
    // Whole transfers or an Error; O_DIRECT alignment is handled with a bounce buffer.
    void readv(uint64_t offset, const std::vector<iovec>& iov);
    void writev(uint64_t offset, const std::vector<iovec>& iov);
    void flush();
    // Deallocates (discard) or zeroes [offset, offset + length).
    void discard(uint64_t offset, uint64_t length);
    void writeZeroes(uint64_t offset, uint64_t length);

private:
    void transfer(uint64_t offset, const std::vector<iovec>& iov, bool write);
    std::string path_;
    bool readOnly_, direct_, blockDevice_ = false;
    UniqueFd fd_;
    uint64_t size_ = 0;
};

}  // namespace mica::block
