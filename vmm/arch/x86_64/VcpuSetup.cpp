#include "VcpuSetup.h"

#include <cstring>

#include "Layout.h"

namespace mica::x86 {

namespace {
constexpr uint64_t kCr0Pe = 1, kCr0Et = 1 << 4, kCr0Pg = 1ull << 31, kCr4Pae = 1 << 5;
constexpr uint64_t kEferLme = 1 << 8, kEferLma = 1 << 10;
constexpr uint64_t kPagePresentWritable = 0x3, kPageHuge = 0x80;

// The Linux boot protocol wants flat __BOOT_CS at 0x10 and __BOOT_DS at 0x18.
constexpr uint16_t kCodeSelector = 0x10, kDataSelector = 0x18, kTssSelector = 0x20;
constexpr uint64_t kGdt[] = {
    0,
    0,
    0x00af9b000000ffff,  // 0x10: 64-bit code, present, execute/read
    0x00cf93000000ffff,  // 0x18: flat data, read/write
    0x008f8b000000ffff,  // 0x20: busy TSS (KVM wants a usable TR)
};

kvm_segment segmentFrom(uint64_t descriptor, uint16_t selector)
{
    kvm_segment s{};
    s.base = ((descriptor >> 16) & 0xffffff) | (((descriptor >> 56) & 0xff) << 24);
    uint32_t limit = static_cast<uint32_t>((descriptor & 0xffff) | (((descriptor >> 48) & 0xf) << 16));
    s.g = (descriptor >> 55) & 1;
    s.limit = s.g ? (limit << 12) | 0xfff : limit;
    s.selector = selector;
    s.type = (descriptor >> 40) & 0xf;
    s.s = (descriptor >> 44) & 1;
    s.dpl = (descriptor >> 45) & 3;
    s.present = (descriptor >> 47) & 1;
    s.avl = (descriptor >> 52) & 1;
    s.l = (descriptor >> 53) & 1;
    s.db = (descriptor >> 54) & 1;
    return s;
}

// Identity-maps the first 4 GiB with 2 MiB pages: enough for the kernel, its
// command line, boot_params and initramfs, wherever below 4 GiB they are.
void writePageTables(const GuestMemory& memory)
{
    auto put = [&](uint64_t addr, uint64_t value) {
        memory.write(addr, {reinterpret_cast<const uint8_t*>(&value), sizeof value});
    };
    auto pml4 = memory.slice(kPml4Addr, 0x1000);
    std::memset(pml4.data(), 0, pml4.size());
    auto pdpt = memory.slice(kPdptAddr, 0x1000);
    std::memset(pdpt.data(), 0, pdpt.size());
    put(kPml4Addr, kPdptAddr | kPagePresentWritable);
    for (uint64_t gib = 0; gib < 4; ++gib) {
        uint64_t pd = kPdAddr + gib * 0x1000;
        put(kPdptAddr + gib * 8, pd | kPagePresentWritable);
        for (uint64_t i = 0; i < 512; ++i)
            put(pd + i * 8, ((gib << 30) | (i << 21)) | kPagePresentWritable | kPageHuge);
    }
}
}  // namespace

void setupVcpu(kvm::Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid)
{
    vcpu.setCpuid(cpuid);
    vcpu.setMsrs({
        {0x174, 0}, {0x175, 0}, {0x176, 0},           // SYSENTER_CS/ESP/EIP
        {0xc0000081, 0}, {0xc0000082, 0},             // STAR, LSTAR
        {0xc0000083, 0}, {0xc0000084, 0},             // CSTAR, SYSCALL_MASK
        {0xc0000102, 0},                              // KERNEL_GS_BASE
        {0x10, 0},                                    // TSC
        {0x1a0, 1},                                   // MISC_ENABLE: fast strings
        {0x2ff, (1 << 11) | 6},                       // MTRRdefType: enabled, write-back
    });
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    vcpu.setFpu(fpu);

    // LINT0 takes the PIC's ExtINT (legacy interrupts), LINT1 takes NMIs: what the MP
    // table and MADT promise the guest.
    kvm_lapic_state lapic = vcpu.lapic();
    auto setLvt = [&](size_t offset, uint32_t mode) {
        uint32_t value;
        std::memcpy(&value, lapic.regs + offset, 4);
        value = (value & ~0x700u & ~(1u << 16)) | (mode << 8);
        std::memcpy(lapic.regs + offset, &value, 4);
    };
    setLvt(0x350, 7);  // ExtINT
    setLvt(0x360, 4);  // NMI
    vcpu.setLapic(lapic);
}

void setupBootVcpu(kvm::Vcpu& vcpu, const GuestMemory& memory, const BootEntry& entry)
{
    memory.write(kGdtAddr, {reinterpret_cast<const uint8_t*>(kGdt), sizeof kGdt});
    uint64_t nullIdt = 0;
    memory.write(kIdtAddr, {reinterpret_cast<const uint8_t*>(&nullIdt), sizeof nullIdt});

    kvm_sregs sregs = vcpu.sregs();
    sregs.gdt.base = kGdtAddr;
    sregs.gdt.limit = sizeof kGdt - 1;
    sregs.idt.base = kIdtAddr;
    sregs.idt.limit = sizeof nullIdt - 1;
    kvm_segment code = segmentFrom(kGdt[2], kCodeSelector);
    kvm_segment data = segmentFrom(kGdt[3], kDataSelector);
    sregs.tr = segmentFrom(kGdt[4], kTssSelector);

    kvm_regs regs{};
    regs.rflags = 0x2;
    regs.rip = entry.entry;
    if (entry.mode == BootEntry::Mode::Linux64) {
        writePageTables(memory);
        sregs.cr3 = kPml4Addr;
        sregs.cr4 |= kCr4Pae;
        sregs.cr0 |= kCr0Pe | kCr0Pg | kCr0Et;
        sregs.efer |= kEferLme | kEferLma;
        regs.rsi = entry.bootParams;
        regs.rsp = regs.rbp = kBootStackTop;
    } else {
        // PVH: 32-bit protected mode, paging off, flat segments.
        code.l = 0;
        code.db = 1;
        sregs.cr0 = (sregs.cr0 & ~kCr0Pg) | kCr0Pe | kCr0Et;
        sregs.cr4 = 0;
        sregs.efer = 0;
        regs.rbx = entry.bootParams;
    }
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    vcpu.setSregs(sregs);
    vcpu.setRegs(regs);
}

}  // namespace mica::x86
