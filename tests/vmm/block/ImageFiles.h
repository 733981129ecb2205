// Test helpers for disk image formats: a scratch directory, qemu-img run as the
// reference implementation, and a writer that applies the same operations to an image
// under test and to a raw mirror, so `qemu-img compare` can judge the result.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "DiskImage.h"
#include "RawImage.h"

namespace mica::block::test {

class ScratchDir {
public:
    ScratchDir()
    {
        char tmpl[] = "/tmp/mica-image-test.XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~ScratchDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Runs a shell command; returns its exit status (output goes to the test log).
inline int run(const std::string& command)
{
    int status = std::system(("{ " + command + "; } >&2").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Applies each operation to the image and to a raw file of the same size.
class MirroredWriter {
public:
    MirroredWriter(DiskImage& image, const std::string& rawPath, uint64_t seed)
        : image_(image), mirror_(rawPath, false, false), random_(seed)
    {
    }
    void write(uint64_t offset, uint64_t length)
    {
        std::vector<uint8_t> data(length);
        for (auto& b : data)
            b = static_cast<uint8_t>(random_());
        // Two buffers, split unevenly, as a guest's scatter list would be.
        uint64_t split = length / 3;
        std::vector<iovec> iov{{data.data(), split}, {data.data() + split, length - split}};
        image_.writev(offset, iov);
        mirror_.writev(offset, iov);
    }
    void zero(uint64_t offset, uint64_t length, bool discard)
    {
        if (discard)
            image_.discard(offset, length);
        else
            image_.writeZeroes(offset, length);
        mirror_.writeZeroes(offset, length);
    }
    // Random writes, zeroings and discards of random lengths, some sector-aligned.
    void randomMix(unsigned count, uint64_t maxLength)
    {
        for (unsigned i = 0; i < count; ++i) {
            uint64_t length = 1 + random_() % maxLength;
            uint64_t offset = random_() % (image_.size() - length);
            if (i % 2) {
                offset &= ~uint64_t(511);
                length = (length + 511) & ~uint64_t(511);
                length = std::min(length, image_.size() - offset);
            }
            switch (random_() % 6) {
            case 0:
                zero(offset, length, true);
                break;
            case 1:
                zero(offset, length, false);
                break;
            default:
                write(offset, length);
            }
        }
    }
    // Every byte of the image read back equals the mirror.
    void expectSameContent(uint64_t chunk = 1 << 20)
    {
        std::vector<uint8_t> a(chunk), b(chunk);
        for (uint64_t at = 0; at < image_.size(); at += chunk) {
            uint64_t n = std::min(chunk, image_.size() - at);
            image_.readv(at, {iovec{a.data(), n}});
            mirror_.readv(at, {iovec{b.data(), n}});
            ASSERT_EQ(0, std::memcmp(a.data(), b.data(), n)) << "at " << at;
        }
    }
    std::mt19937_64& random() { return random_; }

private:
    DiskImage& image_;
    RawImage mirror_;
    std::mt19937_64 random_;
};

}  // namespace mica::block::test
