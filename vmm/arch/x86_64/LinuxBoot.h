// The Linux x86 boot protocol (Documentation/arch/x86/boot.rst): a bzImage's setup
// header, the boot_params "zero page" and the 64-bit entry point.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "E820.h"
#include "KernelLoader.h"

namespace mica::x86 {

bool isBzImage(std::span<const uint8_t> file);
BootEntry loadBzImage(const GuestMemory& memory, const std::string& path, std::span<const uint8_t> kernel,
                      std::span<const uint8_t> initramfs, const std::vector<E820Entry>& e820);

// Places the initramfs as high as the kernel allows below `limit` (page-aligned) and
// above `floor`; returns its address. Shared by both boot protocols.
uint64_t placeInitramfs(const GuestMemory& memory, std::span<const uint8_t> initramfs, uint64_t floor,
                        uint64_t limit);

}  // namespace mica::x86
