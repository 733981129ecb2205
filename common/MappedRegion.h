// Owning mmap(2) mapping: unmapped exactly once, movable, never copied.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace mica {

class MappedRegion {
public:
    MappedRegion() = default;
    MappedRegion(void* addr, size_t size) : addr_(addr), size_(size) {}
    MappedRegion(MappedRegion&& other) noexcept
        : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    MappedRegion& operator=(MappedRegion&& other) noexcept
    {
        if (this != &other) {
            reset();
            addr_ = std::exchange(other.addr_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    MappedRegion(const MappedRegion&) = delete;
    MappedRegion& operator=(const MappedRegion&) = delete;
    ~MappedRegion() { reset(); }

    void* get() const { return addr_; }
    size_t size() const { return size_; }
    explicit operator bool() const { return addr_ != nullptr; }
    void reset()
    {
        if (addr_)
            ::munmap(addr_, size_);
        addr_ = nullptr;
        size_ = 0;
    }

private:
    void* addr_ = nullptr;
    size_t size_ = 0;
};

}  // namespace mica
