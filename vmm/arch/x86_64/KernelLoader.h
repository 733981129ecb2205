// Direct kernel boot: loads a bzImage (Linux 64-bit boot protocol) or an ELF vmlinux
// with a PVH entry note, the initramfs and the command line into guest memory, and says
// how the boot vCPU must start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "GuestMemory.h"
#include "UniqueFd.h"

namespace mica::x86 {

struct KernelImage {
    std::string kernelPath;
    std::string initramfsPath;  // empty: none
    std::string cmdline;
    // Files the caller already opened for these paths (VmConfig::handedFile), or empty.
    UniqueFd kernelFd{}, initramfsFd{};
};

struct BootEntry {
    enum class Mode { Linux64, Pvh32 } mode;
    uint64_t entry;       // RIP
    uint64_t bootParams;  // RSI (zero page) for Linux64, RBX (hvm_start_info) for PVH
};

// Throws Error naming the file and what is wrong with it.
BootEntry loadKernel(const GuestMemory& memory, const KernelImage& image, uint64_t rsdpAddr);

// Reads a whole file, from `opened` when it is given (read from offset 0 with pread: the
// descriptor may be shared), else by opening `path`; throws Error("PATH: reason").
// Exposed for the loaders' tests.
std::vector<uint8_t> readFile(const std::string& path, const UniqueFd& opened = UniqueFd());

}  // namespace mica::x86
