// KVM's coalesced I/O ring: writes to a registered port range are queued in a page KVM
// shares with us instead of each making the vCPU exit to this process. The guest can
// then write a burst (a UART's FIFO load) for the price of no exit at all; the writes
// reach the device, in order, when this process drains the ring: before it handles any
// exit, and from a backstop timer. Reads and everything else still exit as before.
#pragma once

#include "KvmHeaders.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

namespace mica::kvm {

class Vcpu;
class Vm;

class CoalescedRing {
public:
    // Null when this KVM has no coalesced port I/O (KVM_CAP_COALESCED_PIO): then the
    // guest's writes simply exit as usual.
    static std::unique_ptr<CoalescedRing> create(Vm& vm, Vcpu& anyVcpu, size_t vcpuMmapSize);
    // Queues guest writes to ports [port, port + size) in the ring.
    void addPorts(uint16_t port, uint32_t size);
    // Hands every queued write to `deliver`, oldest first: successive writes of `size`
    // bytes each to one port go together in `bytes` (a FIFO load is one call, not 64).
    // Thread-safe: drains are serialized, so a later drain sees the device after an
    // earlier one.
    using Deliver = std::function<void(uint16_t port, uint32_t size, std::span<const uint8_t> bytes)>;
    // Returns how many writes it delivered.
    size_t drain(const Deliver& deliver);

private:
    CoalescedRing(Vm& vm, kvm_coalesced_mmio_ring* ring, uint32_t capacity) : vm_(vm), ring_(ring), capacity_(capacity) {}
    Vm& vm_;
    kvm_coalesced_mmio_ring* ring_;  // in the vCPU's kvm_run mapping (the same page for every vCPU)
    uint32_t capacity_;
    std::mutex mutex_;
};

}  // namespace mica::kvm
