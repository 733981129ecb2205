#include "BinaryStats.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "Error.h"
#include "KvmHeaders.h"

namespace mica::kvm {

namespace {

// Reads exactly `length` bytes at `offset`, or throws.
void readAt(int fd, void* to, std::size_t length, std::uint64_t offset)
{
    auto* p = static_cast<char*>(to);
    while (length) {
        ssize_t n = ::pread(fd, p, length, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw systemError("KVM statistics: read");
        p += n, offset += static_cast<std::uint64_t>(n), length -= static_cast<std::size_t>(n);
    }
}

}  // namespace

BinaryStats::BinaryStats(int kvmObjectFd) : fd_(::ioctl(kvmObjectFd, KVM_GET_STATS_FD, nullptr))
{
    if (!fd_)
        throw systemError("KVM_GET_STATS_FD");
    kvm_stats_header header{};
    readAt(fd_.get(), &header, sizeof header, 0);
    // Bounds a kernel would never exceed; beyond them this is not a stats fd we read.
    if (header.num_desc > 4096 || header.name_size == 0 || header.name_size > 1024)
        throw Error("KVM statistics: unexpected header (" + std::to_string(header.num_desc) + " descriptors, names of " +
                    std::to_string(header.name_size) + " bytes)");
    std::size_t stride = sizeof(kvm_stats_desc) + header.name_size;
    std::vector<char> descriptors(stride * header.num_desc);
    readAt(fd_.get(), descriptors.data(), descriptors.size(), header.desc_offset);
    dataOffset_ = header.data_offset;
    for (std::uint32_t i = 0; i < header.num_desc; ++i) {
        kvm_stats_desc d{};
        std::memcpy(&d, descriptors.data() + i * stride, sizeof d);
        std::uint32_t type = d.flags & KVM_STATS_TYPE_MASK;
        if (d.size != 1 || type == KVM_STATS_TYPE_LINEAR_HIST || type == KVM_STATS_TYPE_LOG_HIST)
            continue;
        const char* name = descriptors.data() + i * stride + sizeof(kvm_stats_desc);
        items_.push_back({std::string(name, strnlen(name, header.name_size)), d.offset});
        dataSize_ = std::max<std::size_t>(dataSize_, d.offset + sizeof(std::uint64_t));
    }
}

std::map<std::string, std::uint64_t> BinaryStats::read() const
{
    std::vector<char> data(dataSize_);
    readAt(fd_.get(), data.data(), data.size(), dataOffset_);
    std::map<std::string, std::uint64_t> values;
    for (const auto& item : items_) {
        std::uint64_t v = 0;
        std::memcpy(&v, data.data() + item.offset, sizeof v);
        values[item.name] = v;
    }
    return values;
}

}  // namespace mica::kvm
