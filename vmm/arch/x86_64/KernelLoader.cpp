#include "KernelLoader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "E820.h"
#include "Error.h"
#include "Layout.h"
#include "LinuxBoot.h"
#include "PvhBoot.h"
#include "UniqueFd.h"
#include "i18n.h"

namespace mica::x86 {

std::vector<uint8_t> readFile(const std::string& path, const UniqueFd& opened)
{
    UniqueFd own;
    if (!opened)
        own.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    const UniqueFd& fd = opened ? opened : own;
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) < 0)
        throw systemError(path);
    if (!S_ISREG(st.st_mode))
        throw Error(path + ": " + _("not a regular file"));
    std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::pread(fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw systemError(path);
        done += static_cast<size_t>(n);
    }
    return data;
}

BootEntry loadKernel(const GuestMemory& memory, const KernelImage& image, uint64_t rsdpAddr)
{
    if (image.cmdline.size() + 1 > kCmdlineMax)
        throw Error(_("kernel command line too long"));
    std::vector<uint8_t> kernel = readFile(image.kernelPath, image.kernelFd);
    std::vector<uint8_t> initramfs;
    if (!image.initramfsPath.empty())
        initramfs = readFile(image.initramfsPath, image.initramfsFd);

    std::vector<uint8_t> cmdline(image.cmdline.begin(), image.cmdline.end());
    cmdline.push_back(0);
    memory.write(kCmdlineAddr, cmdline);
    auto e820 = buildE820(memory);

    if (kernel.size() >= 4 && std::memcmp(kernel.data(), "\x7f" "ELF", 4) == 0)
        return loadPvhKernel(memory, image.kernelPath, kernel, initramfs, e820, rsdpAddr);
    if (isBzImage(kernel))
        return loadBzImage(memory, image.kernelPath, kernel, initramfs, e820);
    throw Error(image.kernelPath + ": " +
                _("not a kernel mica-vmm can boot (neither a bzImage nor an ELF vmlinux with a PVH entry)"));
}

}  // namespace mica::x86
