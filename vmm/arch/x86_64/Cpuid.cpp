#include "Cpuid.h"

#include <algorithm>
#include <bit>
#include <cstdint>

namespace mica::x86 {

namespace {
constexpr uint32_t kHypervisorBit = 1u << 31;   // leaf 1 ECX
constexpr uint32_t kTscDeadlineBit = 1u << 24;  // leaf 1 ECX
constexpr uint32_t kHttBit = 1u << 28;          // leaf 1 EDX
// Bits needed to number `n` things (the APIC id field widths).
unsigned widthFor(unsigned n) { return n <= 1 ? 0 : std::bit_width(n - 1); }
}  // namespace

std::vector<kvm_cpuid_entry2> guestCpuid(const std::vector<kvm_cpuid_entry2>& supported, unsigned apicId,
                                         const CpuTopology& topology, bool tscDeadline)
{
    unsigned threadBits = widthFor(topology.threads);
    unsigned coreBits = widthFor(topology.cores);
    unsigned perSocket = topology.cores * topology.threads;
    std::vector<kvm_cpuid_entry2> cpuid = supported;
    for (auto& e : cpuid) {
        switch (e.function) {
        case 0x1:
            e.ecx |= kHypervisorBit;
            // A guest with the TSC-deadline timer needs no LAPIC timer calibration, which
            // fails under nested virtualization and leaves Linux on the PIT: an exit per tick.
            if (tscDeadline)
                e.ecx |= kTscDeadlineBit;
            e.ebx = (e.ebx & 0x0000ffff) | (std::min(perSocket, 255u) << 16) | (apicId << 24);
            if (perSocket > 1)
                e.edx |= kHttBit;
            break;
        case 0x4: {  // Intel deterministic cache parameters: cores sharing a package
            if (e.eax & 0x1f) {
                e.eax = (e.eax & 0x3ff) | ((std::min(topology.cores, 64u) - 1) << 26) |
                        ((topology.threads - 1) << 14);
            }
            break;
        }
        case 0xb:
        case 0x1f:  // extended topology: level 0 SMT, level 1 core
            e.edx = apicId;
            if (e.index == 0) {
                e.eax = threadBits;
                e.ebx = topology.threads;
                e.ecx = (1 << 8) | 0;
            } else if (e.index == 1) {
                e.eax = threadBits + coreBits;
                e.ebx = perSocket;
                e.ecx = (2 << 8) | 1;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = e.index;
            }
            break;
        case 0x80000008:  // AMD: cores per package - 1, and the APIC id bits they use
            e.ecx = (e.ecx & ~0xf0ffu) | ((threadBits + coreBits) << 12) | (perSocket - 1);
            break;
        case 0x8000001e:  // AMD: extended APIC id, core id, threads per core
            e.eax = apicId;
            e.ebx = (e.ebx & ~0xffffu) | ((topology.threads - 1) << 8) | (apicId >> threadBits);
            e.ecx = (e.ecx & ~0xffu) | (apicId >> (threadBits + coreBits));
            break;
        default:
            break;
        }
    }
    return cpuid;
}

}  // namespace mica::x86
