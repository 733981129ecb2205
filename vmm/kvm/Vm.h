// One KVM virtual machine: its memory slots, in-kernel interrupt controllers and vCPUs.
#pragma once

#include "KvmHeaders.h"

#include <cstdint>
#include <vector>

#include "UniqueFd.h"

namespace mica::kvm {

class Vcpu;

class Vm {
public:
    Vm(UniqueFd fd, size_t vcpuMmapSize) : fd_(std::move(fd)), vcpuMmapSize_(vcpuMmapSize) {}

    // KVM_CHECK_EXTENSION on the VM fd (some answers differ per VM).
    int checkExtension(long cap) const;

    // Maps host memory at `host` into guest physical [gpa, gpa + size) as slot `slot`.
    // `logDirty`: KVM records the pages the guest writes (KVM_MEM_LOG_DIRTY_PAGES); set
    // the same slot again to switch it.
    void setMemoryRegion(uint32_t slot, uint64_t gpa, uint64_t size, void* host, bool readOnly = false,
                         bool logDirty = false);
    // The slot's pages written since the last call (one bit per page, 64 to a word);
    // KVM clears its log as it answers.
    std::vector<uint64_t> dirtyLog(uint32_t slot, uint64_t size);

    // x86 set-up that must precede vCPU creation: the TSS and identity-map pages KVM needs
    // below 4 GiB for real-mode emulation on Intel, the in-kernel PIC + IOAPIC + LAPICs,
    // and the in-kernel PIT.
    void setTssAddress(uint64_t gpa);
    void setIdentityMapAddress(uint64_t gpa);
    void createIrqchip();
    void createPit();

    // Drives an interrupt line of the in-kernel irqchip (GSI numbering).
    void setIrqLine(uint32_t gsi, bool level);
    // Routes writes of `length` bytes (0 = any) to an I/O port or MMIO address to an eventfd.
    void addIoEventFd(int eventFd, uint64_t addr, uint32_t length, bool pio);
    void removeIoEventFd(int eventFd, uint64_t addr, uint32_t length, bool pio);
    // Makes a write to `eventFd` raise GSI `gsi` (edge), or with `resampleFd` level-triggered.
    void addIrqFd(int eventFd, uint32_t gsi, int resampleFd = -1);
    void removeIrqFd(int eventFd, uint32_t gsi);
    // Replaces the whole GSI routing table (IOAPIC/PIC pins and MSI routes).
    void setGsiRouting(const kvm_irq_routing_entry* entries, uint32_t count);

    // The guest's kvmclock, saved across pause and snapshots.
    kvm_clock_data getClock() const;
    void setClock(const kvm_clock_data&);

    // The in-kernel PIC (chip 0 master, 1 slave) and IOAPIC (chip 2), and the PIT.
    kvm_irqchip irqchip(uint32_t chip) const;
    void setIrqchip(const kvm_irqchip&);
    kvm_pit_state2 pit() const;
    void setPit(const kvm_pit_state2&);

    Vcpu createVcpu(unsigned id);
    int fd() const { return fd_.get(); }

private:
    void ioEventFd(int eventFd, uint64_t addr, uint32_t length, bool pio, uint32_t extraFlags);
    UniqueFd fd_;
    size_t vcpuMmapSize_;
};

}  // namespace mica::kvm
