#include "CoalescedRing.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "Error.h"
#include "Vcpu.h"
#include "Vm.h"

namespace mica::kvm {

std::unique_ptr<CoalescedRing> CoalescedRing::create(Vm& vm, Vcpu& anyVcpu, size_t vcpuMmapSize)
{
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t offset = KVM_COALESCED_MMIO_PAGE_OFFSET * page;
    if (vm.checkExtension(KVM_CAP_COALESCED_PIO) <= 0 || vcpuMmapSize < offset + page)
        return nullptr;
    auto* ring = reinterpret_cast<kvm_coalesced_mmio_ring*>(reinterpret_cast<uint8_t*>(&anyVcpu.runState()) + offset);
    auto capacity = static_cast<uint32_t>((page - sizeof(kvm_coalesced_mmio_ring)) / sizeof(kvm_coalesced_mmio));
    return std::unique_ptr<CoalescedRing>(new CoalescedRing(vm, ring, capacity));
}

void CoalescedRing::addPorts(uint16_t port, uint32_t size)
{
    kvm_coalesced_mmio_zone zone{};
    zone.addr = port;
    zone.size = size;
    zone.pio = 1;
    if (::ioctl(vm_.fd(), KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
        throw systemError("KVM_REGISTER_COALESCED_MMIO (port " + std::to_string(port) + ")");
}

size_t CoalescedRing::drain(const Deliver& deliver)
{
    std::lock_guard lock(mutex_);
    size_t delivered = 0;
    // KVM writes an entry, then publishes it by advancing `last`; we consume up to the
    // `last` we read and give the slot back by advancing `first`.
    uint32_t first = ring_->first;
    uint32_t last = std::atomic_ref<uint32_t>(ring_->last).load(std::memory_order_acquire);
    // One run of writes of one size to one port, gathered for a single deliver().
    std::vector<uint8_t> run;
    uint64_t runPort = 0;
    uint32_t runSize = 0;
    auto flush = [&] {
        if (!run.empty())
            deliver(static_cast<uint16_t>(runPort), runSize, run);
        run.clear();
    };
    while (first != last) {
        if (first >= capacity_)  // never from a sane kernel; do not read past the page
            break;
        const kvm_coalesced_mmio& entry = ring_->coalesced_mmio[first];
        uint32_t length = entry.len < sizeof entry.data ? entry.len : sizeof entry.data;
        if (entry.phys_addr != runPort || length != runSize)
            flush();
        runPort = entry.phys_addr, runSize = length;
        run.insert(run.end(), entry.data, entry.data + length);
        first = (first + 1) % capacity_;
        ++delivered;
    }
    // Every entry is copied out: KVM may fill the slots again while the last run goes out.
    std::atomic_ref<uint32_t>(ring_->first).store(first, std::memory_order_release);
    flush();
    return delivered;
}

}  // namespace mica::kvm
