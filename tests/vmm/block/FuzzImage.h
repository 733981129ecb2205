// What the VHD and VHDX fuzz targets share. An input is an image file described
// sparsely, so that a few KiB stand for an image of several MiB (its metadata apart,
// mostly zeroes): 8 option bytes (the file's size, u32 little-endian, capped at 16 MiB;
// whether to open it read-only; a seed for the requests), then records of a u32 offset, a
// u16 length and that many bytes, written into the file. make-vhd-seeds turns qemu-img's
// images into such inputs.
//
// The image is opened from a memfd; anything but an Error from opening is a bug. Then
// requests at offsets the seed picks: what is written must read back, and what is
// discarded or zeroed must read as zeroes, else the target aborts.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "DiskImage.h"
#include "Error.h"
#include "LittleEndian.h"
#include "RawImage.h"

namespace fuzz {

using namespace mica;
using namespace mica::block;

constexpr uint64_t kMaxFileSize = 16 << 20;
constexpr uint64_t kMaxRequest = 64 << 10;

// The file the input describes, as a memfd; -1 for inputs too short to say.
inline int buildFile(const uint8_t* data, size_t size, uint64_t& fileSize)
{
    if (size < 8)
        return -1;
    fileSize = loadLe<uint32_t>(data) % (kMaxFileSize + 1);
    int fd = ::memfd_create("fuzz-image", MFD_CLOEXEC);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(fileSize)) != 0)
        std::abort();
    for (size_t at = 8; at + 6 <= size;) {
        uint64_t offset = loadLe<uint32_t>(data + at);
        size_t length = std::min<size_t>(loadLe<uint16_t>(data + at + 4), size - at - 6);
        if (offset < fileSize && length)
            (void)!::pwrite(fd, data + at + 6, std::min<uint64_t>(length, fileSize - offset), static_cast<off_t>(offset));
        at += 6 + length;
    }
    return fd;
}

inline uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

inline void check(bool ok)
{
    if (!ok)
        std::abort();
}

// Opens the input as Image (and reads its info as the class says it), then serves a
// few requests on it.
template <typename Image>
int run(const uint8_t* data, size_t size)
{
    uint64_t fileSize = 0;
    int fd = buildFile(data, size, fileSize);
    if (fd < 0)
        return 0;
    const bool readOnly = data[4] & 1;
    uint64_t seed = loadLe<uint32_t>(data + 4) >> 8;
    try {
        Image::readInfo([fd](uint64_t offset, void* out, size_t length) {
            ssize_t n = ::pread(fd, out, length, static_cast<off_t>(offset));
            std::memset(static_cast<uint8_t*>(out) + std::max<ssize_t>(n, 0), 0, length - std::max<size_t>(n, 0));
        }, fileSize);
    } catch (const Error&) {
    }
    std::unique_ptr<Image> image;
    try {
        image = std::make_unique<Image>(std::make_unique<RawImage>("fuzz", readOnly, false, false, UniqueFd(fd)));
    } catch (const Error&) {
        return 0;
    }
    const uint64_t disk = image->size();
    if (disk == 0)
        return 0;
    std::vector<uint8_t> buffer(kMaxRequest), back(kMaxRequest);
    for (uint64_t i = 0; i < 6; ++i) {
        uint64_t r = mix(seed * 8 + i + 1);
        uint64_t offset = r % disk;
        uint64_t length = std::min<uint64_t>(1 + (r >> 40) % kMaxRequest, disk - offset);
        iovec whole{back.data(), length};
        try {
            image->readv(offset, {whole});
            if (readOnly)
                continue;
            if (i % 3 == 2) {
                (i % 2 ? static_cast<DiskImage&>(*image).discard(offset, length) : image->writeZeroes(offset, length));
                image->readv(offset, {whole});
                for (uint64_t j = 0; j < length; ++j)
                    check(back[j] == 0);
                continue;
            }
            for (uint64_t j = 0; j < length; ++j)
                buffer[j] = static_cast<uint8_t>(mix(r + j));
            image->writev(offset, {iovec{buffer.data(), length / 2}, iovec{buffer.data() + length / 2, length - length / 2}});
            image->readv(offset, {whole});
            check(std::memcmp(buffer.data(), back.data(), length) == 0);
        } catch (const Error&) {
        }
    }
    return 0;
}

}  // namespace fuzz
