// Splitting a guest request over the fixed-size blocks of a block-mapped format (qcow2's
// clusters, VHD's and VHDX's blocks): each block may live anywhere in the file, or nowhere (reads as zeroes), so a
// request is served block by block with the matching part of its scatter-gather list.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mica::block {

inline uint64_t iovLength(const std::vector<iovec>& iov)
{
    uint64_t total = 0;
    for (const auto& v : iov)
        total += v.iov_len;
    return total;
}

// The bytes [skip, skip + length) of `iov`, as a list of their own.
inline std::vector<iovec> sliceIov(const std::vector<iovec>& iov, uint64_t skip, uint64_t length)
{
    std::vector<iovec> out;
    for (const auto& v : iov) {
        if (!length)
            break;
        if (skip >= v.iov_len) {
            skip -= v.iov_len;
            continue;
        }
        uint64_t n = std::min<uint64_t>(v.iov_len - skip, length);
        out.push_back({static_cast<uint8_t*>(v.iov_base) + skip, n});
        skip = 0;
        length -= n;
    }
    return out;
}

inline void zeroIov(const std::vector<iovec>& iov)
{
    for (const auto& v : iov)
        std::memset(v.iov_base, 0, v.iov_len);
}

// Calls fn(block, offsetInBlock, done, length) for each piece of [offset, offset +
// length) that one block holds; `done` is where the piece starts in the request.
template <typename Fn>
void forEachBlock(uint64_t offset, uint64_t length, uint64_t blockSize, Fn&& fn)
{
    uint64_t done = 0;
    while (done < length) {
        uint64_t at = offset + done;
        uint64_t inBlock = at % blockSize;
        uint64_t n = std::min(length - done, blockSize - inBlock);
        fn(at / blockSize, inBlock, done, n);
        done += n;
    }
}

}  // namespace mica::block
