#include "RawImage.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "Error.h"
#include "IoVectors.h"
#include "i18n.h"

namespace mica::block {

namespace {

constexpr uint64_t kDirectAlign = 4096;

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

}  // namespace

RawImage::RawImage(const std::string& path, bool readOnly, bool direct, bool shared, UniqueFd opened, bool lock)
    : path_(path), readOnly_(readOnly), direct_(direct), locked_(lock)
{
    if (opened) {
        int status = ::fcntl(opened.get(), F_GETFL);
        if (status < 0)
            throw systemError(path);
        if (!readOnly && (status & O_ACCMODE) != O_RDWR)
            throw Error(path + ": " + _("the file handed over is not open for writing"));
        // O_DIRECT is a status flag: it can be set on the file the caller opened.
        if (direct && !(status & O_DIRECT) && ::fcntl(opened.get(), F_SETFL, status | O_DIRECT) < 0)
            throw Error(path + ": " + _("direct=on: this file system does not support O_DIRECT"));
        fd_ = std::move(opened);
    } else {
        int flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
        fd_.reset(::open(path.c_str(), flags));
        if (!fd_ && direct && errno == EINVAL)
            throw Error(path + ": " + _("direct=on: this file system does not support O_DIRECT"));
        if (!fd_)
            throw systemError(path);
    }
    if (lock && ::flock(fd_.get(), (readOnly || shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            throw Error(path + ": " + _("the image is locked by another process (is another VM using it?)"));
        throw systemError(path + ": flock");
    }
    struct stat st{};
    if (::fstat(fd_.get(), &st) < 0)
        throw systemError(path);
    if (S_ISBLK(st.st_mode)) {
        blockDevice_ = true;
        if (::ioctl(fd_.get(), BLKGETSIZE64, &size_) < 0)
            throw systemError(path + ": BLKGETSIZE64");
    } else if (S_ISREG(st.st_mode)) {
        size_ = static_cast<uint64_t>(st.st_size);
    } else {
        throw Error(path + ": " + _("not a regular file or block device"));
    }
}

void RawImage::readv(uint64_t offset, const std::vector<iovec>& iov)
{
    transfer(offset, iov, false);
}

void RawImage::writev(uint64_t offset, const std::vector<iovec>& iov)
{
    if (readOnly_)
        throw Error(path_ + ": " + _("read-only"));
    transfer(offset, iov, true);
}

bool RawImage::needsBounce(uint64_t offset, const std::vector<iovec>& iov) const
{
    if (!direct_)
        return false;
    uint64_t total = 0;
    bool aligned = offset % kDirectAlign == 0;
    for (const auto& v : iov) {
        total += v.iov_len;
        aligned = aligned && reinterpret_cast<uintptr_t>(v.iov_base) % kDirectAlign == 0 && v.iov_len % kDirectAlign == 0;
    }
    return !aligned && total;
}

void RawImage::transfer(uint64_t offset, const std::vector<iovec>& iov, bool write)
{
    if (needsBounce(offset, iov)) {
        uint64_t total = 0;
        for (const auto& v : iov)
            total += v.iov_len;
        // O_DIRECT wants aligned memory, offsets and lengths; the guest's buffers need
        // not be. Widen to whole aligned blocks through a bounce buffer.
        uint64_t start = offset & ~(kDirectAlign - 1);
        uint64_t end = (offset + total + kDirectAlign - 1) & ~(kDirectAlign - 1);
        std::unique_ptr<uint8_t, FreeDeleter> bounce(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, end - start)));
        if (!bounce)
            throw Error(path_ + ": " + _("out of memory for a bounce buffer"));
        iovec whole{bounce.get(), end - start};
        if (!write || start != offset || end != offset + total)
            transfer(start, {whole}, false);  // read-modify-write for partial blocks
        uint8_t* cursor = bounce.get() + (offset - start);
        for (const auto& v : iov) {
            if (write)
                std::memcpy(cursor, v.iov_base, v.iov_len);
            else
                std::memcpy(v.iov_base, cursor, v.iov_len);
            cursor += v.iov_len;
        }
        if (write)
            transfer(start, {whole}, true);
        return;
    }
    IoVectors rest(iov);
    while (!rest.empty()) {
        int count = static_cast<int>(std::min<size_t>(rest.count(), IOV_MAX));
        ssize_t n = write ? ::pwritev(fd_.get(), rest.data(), count, static_cast<off_t>(offset))
                          : ::preadv(fd_.get(), rest.data(), count, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw systemError(path_);
        }
        if (n == 0) {
            if (write)
                throw Error(path_ + ": " + _("no space written"));
            rest.zeroRest();  // past the end of a file
            return;
        }
        offset += static_cast<uint64_t>(n);
        rest.consume(static_cast<size_t>(n));
    }
}

void RawImage::grow(uint64_t newSize)
{
    if (blockDevice_) {
        uint64_t device = 0;
        if (::ioctl(fd_.get(), BLKGETSIZE64, &device) < 0)
            throw systemError(path_ + ": BLKGETSIZE64");
        if (device < newSize)
            throw Error(path_ + ": " + _("the block device holds only ") + std::to_string(device) + _(" bytes"));
    } else if (::ftruncate(fd_.get(), static_cast<off_t>(newSize)) < 0) {
        throw systemError(path_ + ": ftruncate");
    }
    size_ = newSize;
}

void RawImage::shareLock()
{
    // flock converts the lock this open file holds; a downgrade never waits.
    if (locked_ && ::flock(fd_.get(), LOCK_SH | LOCK_NB) < 0)
        throw systemError(path_ + ": flock");
}

void RawImage::flush()
{
    if (::fdatasync(fd_.get()) < 0)
        throw systemError(path_ + ": fdatasync");
}

void RawImage::discard(uint64_t offset, uint64_t length)
{
    if (readOnly_)
        throw Error(path_ + ": " + _("read-only"));
    if (blockDevice_) {
        uint64_t range[2] = {offset, length};
        if (::ioctl(fd_.get(), BLKDISCARD, range) < 0)
            throw systemError(path_ + ": BLKDISCARD");
        return;
    }
    if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) == 0)
        return;
    // A file system without holes (9p, some FUSE ones): the range still reads as
    // zeroes, as the other formats' discard promises.
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        throw systemError(path_ + ": fallocate");
    writeZeroes(offset, length);
}

void RawImage::writeZeroes(uint64_t offset, uint64_t length)
{
    if (readOnly_)
        throw Error(path_ + ": " + _("read-only"));
    if (blockDevice_) {
        uint64_t range[2] = {offset, length};
        if (::ioctl(fd_.get(), BLKZEROOUT, range) == 0)
            return;
    } else if (::fallocate(fd_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                           static_cast<off_t>(length)) == 0) {
        return;
    }
    // The file system cannot: write the zeroes.
    std::unique_ptr<uint8_t, FreeDeleter> zeroes(static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, 1 << 20)));
    if (!zeroes)
        throw Error(path_ + ": " + _("out of memory for zeroes"));
    std::memset(zeroes.get(), 0, 1 << 20);
    while (length) {
        uint64_t n = std::min<uint64_t>(length, 1 << 20);
        transfer(offset, {iovec{zeroes.get(), n}}, true);
        offset += n;
        length -= n;
    }
}

}  // namespace mica::block
