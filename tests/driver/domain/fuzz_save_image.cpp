// libFuzzer target: a save image is a file a user names in `virsh restore`; whatever it
// holds, the daemon may refuse it (SaveImageError) but must not crash, hang, leak or
// write more than the file holds. Inputs go through a memfd, the way the daemon reads a
// real file (pread, SEEK_DATA/SEEK_HOLE), and what parses is unpacked too.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "SaveImage.h"

namespace {

std::string outDir()
{
    static std::string dir = [] {
        char tmpl[] = "/tmp/mica-fuzz-save-image-XXXXXX";
        if (!::mkdtemp(tmpl))
            std::abort();
        return std::string(tmpl);
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    try {
        (void)mica::domain::parseSaveImageHeader({data, size}, size);
    } catch (const mica::domain::SaveImageError&) {
    }
    int fd = ::memfd_create("save-image", MFD_CLOEXEC);
    if (fd < 0)
        std::abort();
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::write(fd, data + done, size - done);
        if (n <= 0)
            std::abort();
        done += static_cast<size_t>(n);
    }
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        auto info = mica::domain::readSaveImage(path);
        if (info.xml.size() != info.header.xmlLength)
            __builtin_trap();
        auto header = mica::domain::extractSaveImage(path, outDir());
        // The RAM the VMM will read is exactly the rest of the file.
        if (header.memoryOffset + header.memoryLength != size || header.memoryOffset % 4096)
            __builtin_trap();
    } catch (const mica::domain::SaveImageError&) {
    }
    ::close(fd);
    return 0;
}
