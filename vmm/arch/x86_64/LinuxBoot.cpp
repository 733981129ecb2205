#include "LinuxBoot.h"

#include <cstring>

#include "Error.h"
#include "Layout.h"
#include "i18n.h"

namespace mica::x86 {

namespace {
// Offsets in the boot sector / boot_params (boot.rst, "the real-mode kernel header").
constexpr size_t kSetupSects = 0x1f1, kHeaderMagic = 0x202, kHeaderEnd = 0x201, kVersion = 0x206,
                 kTypeOfLoader = 0x210, kLoadFlags = 0x211, kRamdiskImage = 0x218, kRamdiskSize = 0x21c,
                 kHeapEndPtr = 0x224, kCmdLinePtr = 0x228, kInitrdAddrMax = 0x22c, kXLoadFlags = 0x236,
                 kE820Entries = 0x1e8, kE820Table = 0x2d0;
constexpr uint8_t kCanUseHeap = 0x80;
constexpr uint16_t kXlfKernel64 = 1 << 0;
constexpr size_t kE820MaxEntries = 128;
constexpr uint16_t kMinVersion = 0x020c;  // 2.12: xloadflags says whether the 64-bit entry exists

template <typename T>
T get(std::span<const uint8_t> data, size_t offset)
{
    T value;
    std::memcpy(&value, data.data() + offset, sizeof value);
    return value;
}

template <typename T>
void put(std::span<uint8_t> data, size_t offset, T value)
{
    std::memcpy(data.data() + offset, &value, sizeof value);
}
}  // namespace

bool isBzImage(std::span<const uint8_t> file)
{
    return file.size() > kE820Table && std::memcmp(file.data() + kHeaderMagic, "HdrS", 4) == 0;
}

uint64_t placeInitramfs(const GuestMemory& memory, std::span<const uint8_t> initramfs, uint64_t floor,
                        uint64_t limit)
{
    uint64_t top = std::min(limit, memory.lowEnd());
    if (initramfs.size() > top || ((top - initramfs.size()) & ~0xfffull) < floor)
        throw Error(_("the initramfs does not fit in guest memory below ") + std::to_string(top >> 20) + " MiB");
    uint64_t addr = (top - initramfs.size()) & ~0xfffull;
    memory.write(addr, initramfs);
    return addr;
}

BootEntry loadBzImage(const GuestMemory& memory, const std::string& path, std::span<const uint8_t> kernel,
                      std::span<const uint8_t> initramfs, const std::vector<E820Entry>& e820)
{
    auto version = get<uint16_t>(kernel, kVersion);
    if (version < kMinVersion)
        throw Error(path + ": " + _("boot protocol too old (need 2.12 or later)"));
    if (!(get<uint16_t>(kernel, kXLoadFlags) & kXlfKernel64))
        throw Error(path + ": " + _("the kernel has no 64-bit entry point"));
    size_t setupSects = kernel[kSetupSects] ? kernel[kSetupSects] : 4;
    size_t payloadOffset = (setupSects + 1) * 512;
    size_t headerEnd = kHeaderMagic + kernel[kHeaderEnd];
    if (payloadOffset >= kernel.size() || headerEnd > payloadOffset)
        throw Error(path + ": " + _("truncated bzImage"));
    auto payload = kernel.subspan(payloadOffset);
    if (!memory.contains(kKernelLoadAddr, payload.size()))
        throw Error(path + ": " + _("the kernel does not fit in guest memory"));
    memory.write(kKernelLoadAddr, payload);

    // boot_params starts zeroed, with the kernel's own setup header copied in.
    auto zeroPage = memory.slice(kZeroPageAddr, 4096);
    std::memset(zeroPage.data(), 0, zeroPage.size());
    std::memcpy(zeroPage.data() + kSetupSects, kernel.data() + kSetupSects, headerEnd - kSetupSects);
    zeroPage[kTypeOfLoader] = 0xff;  // "undefined" boot loader
    zeroPage[kLoadFlags] |= kCanUseHeap;
    put<uint16_t>(zeroPage, kHeapEndPtr, 0xfe00);
    put<uint32_t>(zeroPage, kCmdLinePtr, static_cast<uint32_t>(kCmdlineAddr));

    if (!initramfs.empty()) {
        uint64_t limit = static_cast<uint64_t>(get<uint32_t>(zeroPage, kInitrdAddrMax)) + 1;
        uint64_t floor = kKernelLoadAddr + payload.size();
        uint64_t addr = placeInitramfs(memory, initramfs, floor, limit);
        put<uint32_t>(zeroPage, kRamdiskImage, static_cast<uint32_t>(addr));
        put<uint32_t>(zeroPage, kRamdiskSize, static_cast<uint32_t>(initramfs.size()));
    }

    if (e820.size() > kE820MaxEntries)
        throw Error(_("too many memory map entries"));
    zeroPage[kE820Entries] = static_cast<uint8_t>(e820.size());
    for (size_t i = 0; i < e820.size(); ++i) {
        size_t at = kE820Table + i * 20;
        put<uint64_t>(zeroPage, at, e820[i].addr);
        put<uint64_t>(zeroPage, at + 8, e820[i].size);
        put<uint32_t>(zeroPage, at + 16, e820[i].type);
    }
    // The 64-bit entry point is 0x200 past the start of the protected-mode code.
    return {BootEntry::Mode::Linux64, kKernelLoadAddr + 0x200, kZeroPageAddr};
}

}  // namespace mica::x86
