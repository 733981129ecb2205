#include <algorithm>
#include <cstring>

#include "VirtioDevice.h"

namespace mica::virtio {

size_t ChainWriter::write(std::span<const uint8_t> bytes)
{
    size_t done = 0;
    while (done < bytes.size() && index_ < buffers_.size()) {
        auto target = buffers_[index_].subspan(offset_);
        size_t n = std::min(target.size(), bytes.size() - done);
        std::memcpy(target.data(), bytes.data() + done, n);
        done += n;
        offset_ += n;
        if (offset_ == buffers_[index_].size()) {
            ++index_;
            offset_ = 0;
        }
    }
    written_ += done;
    return done;
}

size_t ChainReader::read(std::span<uint8_t> out)
{
    size_t done = 0;
    while (done < out.size() && index_ < buffers_.size()) {
        auto source = buffers_[index_].subspan(offset_);
        size_t n = std::min(source.size(), out.size() - done);
        std::memcpy(out.data() + done, source.data(), n);
        done += n;
        offset_ += n;
        if (offset_ == buffers_[index_].size()) {
            ++index_;
            offset_ = 0;
        }
    }
    return done;
}

std::vector<std::span<uint8_t>> ChainReader::rest() const
{
    std::vector<std::span<uint8_t>> result;
    for (size_t i = index_; i < buffers_.size(); ++i) {
        auto b = i == index_ ? buffers_[i].subspan(offset_) : buffers_[i];
        if (!b.empty())
            result.push_back(b);
    }
    return result;
}

}  // namespace mica::virtio
