// The one owner of KVM's GSI routing table. KVM_SET_GSI_ROUTING replaces the whole
// table, so the legacy IOAPIC/PIC routes and every MSI route live here together and
// each change re-sends all of them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "KvmHeaders.h"

namespace mica::kvm {
class Vm;
}

namespace mica::pci {

struct MsiMessage {
    uint64_t address = 0;
    uint32_t data = 0;
};

class GsiRouter {
public:
    // Installs `legacy` at once; MSI GSIs are handed out above the highest legacy one.
    GsiRouter(kvm::Vm& vm, std::vector<kvm_irq_routing_entry> legacy);

    // A GSI of its own for one MSI vector, from those released first: hotplug makes and
    // drops devices for as long as the VM runs, and KVM's table is bounded.
    uint32_t allocateGsi();
    // `gsi` (its route cleared) may be handed out again.
    void releaseGsi(uint32_t gsi);
    // Routes `gsi` to an MSI message, or (clear) drops its route.
    void setMsiRoute(uint32_t gsi, const MsiMessage& message);
    void clearRoute(uint32_t gsi);
    kvm::Vm& vm() { return vm_; }

private:
    void commit();
    kvm::Vm& vm_;
    std::mutex mutex_;
    std::vector<kvm_irq_routing_entry> legacy_;
    std::map<uint32_t, MsiMessage> msi_;
    uint32_t nextGsi_ = 24;
    std::vector<uint32_t> released_;
};

}  // namespace mica::pci
