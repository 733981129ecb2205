// libFuzzer target: the input is a whole qcow2 file (header, extensions, tables, data),
// opened writable by Qcow2Image from a memfd, then read, written, zeroed and read again
// at offsets the input's last bytes pick. A backing file it names opens as the same
// bytes again (so chains and loops come from one input), up to the depth limit. Anything
// but served requests or an Error (a crash, a hang, a sanitizer report) is a bug.
// Seeds (qcow2-corpus/) are small images qemu-img made, from make-qcow2-seeds.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "Error.h"
#include "Qcow2Image.h"

namespace {

using namespace mica;
using namespace mica::block;

std::unique_ptr<RawImage> fileOf(const uint8_t* data, size_t size, bool readOnly)
{
    int fd = ::memfd_create("fuzz.qcow2", MFD_CLOEXEC);
    if (fd < 0 || ::write(fd, data, size) != static_cast<ssize_t>(size))
        std::abort();
    return std::make_unique<RawImage>("fuzz.qcow2", readOnly, false, false, UniqueFd(fd));
}

std::unique_ptr<DiskImage> openChain(const uint8_t* data, size_t size, bool readOnly, unsigned depth)
{
    return std::make_unique<Qcow2Image>(fileOf(data, size, readOnly), [=](const BackingReference& backing) {
        if (depth >= 3)
            throw Error("fuzz: chain deep enough");
        if (backing.type != ImageType::Qcow2)
            return std::unique_ptr<DiskImage>(fileOf(data, size, true));
        return openChain(data, size, true, depth + 1);
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 16 || size > (4 << 20))
        return 0;
    // The last 16 bytes: where to do what; the rest: the image.
    uint64_t pick[2];
    std::memcpy(pick, data + size - 16, 16);
    size -= 16;
    try {
        auto disk = openChain(data, size, false, 0);
        uint64_t diskSize = disk->size();
        if (diskSize == 0)
            return 0;
        std::vector<uint8_t> buffer(8192, 0x5a);
        auto at = [&](uint64_t p, uint64_t length) { return diskSize > length ? p % (diskSize - length) : 0; };
        uint64_t length = std::min<uint64_t>(diskSize, 1 + pick[1] % buffer.size());
        disk->readv(at(pick[0], length), {iovec{buffer.data(), length}});
        disk->writev(at(pick[0] >> 7, length), {iovec{buffer.data(), length}});
        disk->writeZeroes(at(pick[1] >> 9, length), length);
        disk->discard(at(pick[0] >> 13, 65536 < diskSize ? 65536 : diskSize), std::min<uint64_t>(65536, diskSize));
        disk->readv(at(pick[0], length), {iovec{buffer.data(), length}});
        disk->flush();
    } catch (const Error&) {
    }
    return 0;
}
