#include "PlatformDesc.h"

#include <stdexcept>
#include <string>

namespace mica::x86 {

namespace {

[[noreturn]] void invalid(const std::string& what)
{
    throw std::invalid_argument("platform description: " + what);
}

}  // namespace

void validate(const PlatformDesc& p)
{
    if (p.cpus == 0)
        invalid("no boot CPU");
    if (p.maxCpus < p.cpus)
        invalid("maxCpus " + std::to_string(p.maxCpus) + " < cpus " + std::to_string(p.cpus));
    // x2APIC ids are 32 bits, but a MADT is bounded by its 32-bit length long before.
    if (p.maxCpus > 4096)
        invalid("maxCpus " + std::to_string(p.maxCpus) + " is more than the tables are built for (4096)");
    if (p.sciIrq > 15 || p.sciIrq == 0 || p.sciIrq == 2)
        invalid("SCI must be an ISA IRQ other than 0 and 2, not " + std::to_string(p.sciIrq));
    if (p.s5SlpTyp > 7)
        invalid("SLP_TYP is 3 bits, " + std::to_string(p.s5SlpTyp) + " does not fit");
    if (p.pciHotplugPort != 0) {
        if (p.pciEcamBase == 0)
            invalid("PCI hotplug without PCI");
        if (p.gedPort == 0 || p.gedGsi == 0 || p.gedGsi == 2 || p.gedGsi > 23)
            invalid("PCI hotplug needs the GED's port and an IOAPIC GSI other than 0 and 2");
    }
    if (p.pciEcamBase == 0)
        return;
    if (p.pciBusEnd < p.pciBusStart)
        invalid("PCI bus range ends before it starts");
    if (p.pciEcamBase % (1u << 20) != 0)
        invalid("PCI ECAM base is not 1 MiB aligned");
    if (p.pciMmio32Size != 0 && uint64_t{p.pciMmio32Base} + p.pciMmio32Size > (uint64_t{1} << 32))
        invalid("PCI 32-bit MMIO window wraps past 4 GiB");
    if (p.pciMmio64Size != 0 && p.pciMmio64Base + p.pciMmio64Size < p.pciMmio64Base)
        invalid("PCI 64-bit MMIO window wraps");
}

}  // namespace mica::x86
