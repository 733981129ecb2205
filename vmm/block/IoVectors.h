// A scatter-gather list moved a piece at a time: preadv, pwritev and io_uring may
// transfer fewer bytes than asked, and the rest is asked again.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace mica::block {

class IoVectors {
public:
    explicit IoVectors(std::vector<iovec> iov) : iov_(std::move(iov)) {}
    // What is left, as preadv wants it.
    bool empty() const { return first_ == iov_.size(); }
    const iovec* data() const { return iov_.data() + first_; }
    size_t count() const { return iov_.size() - first_; }
    // `bytes` of the front were transferred.
    void consume(size_t bytes)
    {
        while (first_ < iov_.size() && bytes >= iov_[first_].iov_len) {
            bytes -= iov_[first_].iov_len;
            ++first_;
        }
        if (bytes) {
            iov_[first_].iov_base = static_cast<uint8_t*>(iov_[first_].iov_base) + bytes;
            iov_[first_].iov_len -= bytes;
        }
    }
    // A read that met the end of the file: the rest reads as zeroes.
    void zeroRest()
    {
        for (; first_ < iov_.size(); ++first_)
            std::memset(iov_[first_].iov_base, 0, iov_[first_].iov_len);
    }

private:
    std::vector<iovec> iov_;
    size_t first_ = 0;
};

}  // namespace mica::block
