#include "MpTable.h"

#include <stdexcept>
#include <string>

#include "LeBytes.h"

// Layouts from the Intel MultiProcessor Specification 1.4, chapter 4.

namespace mica::x86 {

namespace {

constexpr std::size_t FloatingPointerSize = 16;
constexpr uint8_t SpecRevision = 4;            // 1.4

constexpr uint8_t EntryProcessor = 0, EntryBus = 1, EntryIoApic = 2, EntryIoInterrupt = 3,
                  EntryLocalInterrupt = 4;
constexpr uint8_t CpuEnabled = 1u << 0, CpuBootProcessor = 1u << 1;
constexpr uint8_t InterruptInt = 0, InterruptNmi = 1, InterruptExtInt = 3;
constexpr uint8_t IsaBusId = 0;
// Versions KVM's in-kernel LAPIC and IOAPIC report in their version registers.
constexpr uint8_t LapicVersion = 0x14, IoApicVersion = 0x11;
// Family 6, and the CPUID.1:EDX bits the spec asks for (FPU, APIC); Linux reads the real
// CPUID later anyway.
constexpr uint32_t CpuSignature = 0x600, CpuFeatures = (1u << 0) | (1u << 9);

void appendInterrupt(Bytes& t, uint8_t entryType, uint8_t interruptType, uint8_t sourceIrq,
                     uint8_t destinationId, uint8_t destinationPin)
{
    t.push_back(entryType);
    t.push_back(interruptType);
    appendLe(t, 0, 2);                         // flags: conforming to the bus (ISA: edge, high)
    t.push_back(IsaBusId);
    t.push_back(sourceIrq);
    t.push_back(destinationId);
    t.push_back(destinationPin);
}

Bytes configurationTable(const PlatformDesc& p)
{
    Bytes t;
    appendText(t, "PCMP", 4);
    appendLe(t, 0, 2);                         // base table length, below
    t.push_back(SpecRevision);
    t.push_back(0);                            // checksum, below
    appendText(t, "MICA", 8);                  // OEM id
    appendText(t, "MICA VMM", 12);             // product id
    appendLe(t, 0, 4);                         // OEM table pointer
    appendLe(t, 0, 2);                         // OEM table size
    appendLe(t, 0, 2);                         // entry count, below
    appendLe(t, p.lapicAddr, 4);
    appendLe(t, 0, 2);                         // extended table length
    t.push_back(0);                            // extended table checksum
    t.push_back(0);
    unsigned entries = 0;

    for (unsigned id = 0; id < p.maxCpus && id < 255; id++, entries++) {
        t.push_back(EntryProcessor);
        t.push_back(static_cast<uint8_t>(id));
        t.push_back(LapicVersion);
        t.push_back(static_cast<uint8_t>((id < p.cpus ? CpuEnabled : 0) | (id == 0 ? CpuBootProcessor : 0)));
        appendLe(t, CpuSignature, 4);
        appendLe(t, CpuFeatures, 4);
        appendLe(t, 0, 8);
    }

    t.push_back(EntryBus);
    t.push_back(IsaBusId);
    appendText(t, "ISA", 6);
    entries++;

    t.push_back(EntryIoApic);
    t.push_back(p.ioapicId);
    t.push_back(IoApicVersion);
    t.push_back(1);                            // enabled
    appendLe(t, p.ioapicAddr, 4);
    entries++;

    for (uint8_t irq = 0; irq < 16; irq++) {
        if (irq == 2)                          // pin 2 carries IRQ0
            continue;
        appendInterrupt(t, EntryIoInterrupt, InterruptInt, irq, p.ioapicId, irq == 0 ? 2 : irq);
        entries++;
    }
    // Virtual wire mode: the 8259 reaches the CPUs through LINT0, NMIs through LINT1.
    appendInterrupt(t, EntryLocalInterrupt, InterruptExtInt, 0, 0xff, 0);
    appendInterrupt(t, EntryLocalInterrupt, InterruptNmi, 0, 0xff, 1);
    entries += 2;

    putLe(t, 4, t.size(), 2);
    putLe(t, 34, entries, 2);
    t[7] = zeroSumByte(t, 0, t.size());
    return t;
}

}  // namespace

std::vector<Blob> buildMpTable(const PlatformDesc& platform, uint64_t fpsGpa)
{
    validate(platform);
    if (fpsGpa % 16 != 0)
        throw std::invalid_argument("MP table: floating pointer address " + std::to_string(fpsGpa) +
                                    " is not 16-byte aligned");
    Bytes config = configurationTable(platform);
    uint64_t configGpa = fpsGpa + FloatingPointerSize;
    if (configGpa + config.size() > UINT32_MAX)
        throw std::invalid_argument("MP table: must lie below 4 GiB, not at " + std::to_string(fpsGpa));

    Bytes blob;
    appendText(blob, "_MP_", 4);
    appendLe(blob, configGpa, 4);
    blob.push_back(1);                         // length in 16-byte units
    blob.push_back(SpecRevision);
    blob.push_back(0);                         // checksum, below
    blob.push_back(0);                         // feature 1: 0 = a configuration table follows
    blob.push_back(0);                         // feature 2: IMCR absent, virtual wire mode
    appendLe(blob, 0, 3);
    blob[10] = zeroSumByte(blob, 0, FloatingPointerSize);
    appendBytes(blob, config);
    return {{fpsGpa, std::move(blob)}};
}

}  // namespace mica::x86
