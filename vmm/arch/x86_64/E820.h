// The guest's physical memory map, as the BIOS e820 call would report it. Both boot
// protocols hand it to the kernel (boot_params.e820_table, hvm_start_info's memmap).
#pragma once

#include <cstdint>
#include <vector>

#include "GuestMemory.h"

namespace mica::x86 {

struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;  // 1 RAM, 2 reserved
};
constexpr uint32_t kE820Ram = 1, kE820Reserved = 2;

std::vector<E820Entry> buildE820(const GuestMemory& memory);

}  // namespace mica::x86
