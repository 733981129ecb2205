// PVH boot (the Xen/x86 "hvm_start_info" protocol Linux also implements): an ELF vmlinux
// whose XEN_ELFNOTE_PHYS32_ENTRY note names a 32-bit protected-mode entry point, started
// with paging off and EBX pointing at hvm_start_info.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "E820.h"
#include "KernelLoader.h"

namespace mica::x86 {

BootEntry loadPvhKernel(const GuestMemory& memory, const std::string& path, std::span<const uint8_t> elf,
                        std::span<const uint8_t> initramfs, const std::vector<E820Entry>& e820, uint64_t rsdpAddr);

}  // namespace mica::x86
