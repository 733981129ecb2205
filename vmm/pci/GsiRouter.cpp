#include "GsiRouter.h"

#include <algorithm>

#include "Error.h"
#include "Vm.h"
#include "i18n.h"

namespace mica::pci {

// KVM's default table size (KVM_MAX_IRQ_ROUTES is 4096 on x86).
constexpr uint32_t kMaxGsi = 4096;

GsiRouter::GsiRouter(kvm::Vm& vm, std::vector<kvm_irq_routing_entry> legacy) : vm_(vm), legacy_(std::move(legacy))
{
    for (const auto& e : legacy_)
        nextGsi_ = std::max(nextGsi_, e.gsi + 1);
    std::lock_guard lock(mutex_);
    commit();
}

uint32_t GsiRouter::allocateGsi()
{
    std::lock_guard lock(mutex_);
    if (!released_.empty()) {
        uint32_t gsi = released_.back();
        released_.pop_back();
        return gsi;
    }
    if (nextGsi_ >= kMaxGsi)
        throw Error(_("out of interrupt routes (GSIs) for MSI-X vectors"));
    return nextGsi_++;
}

void GsiRouter::releaseGsi(uint32_t gsi)
{
    std::lock_guard lock(mutex_);
    if (msi_.erase(gsi))
        commit();
    released_.push_back(gsi);
}

void GsiRouter::setMsiRoute(uint32_t gsi, const MsiMessage& message)
{
    std::lock_guard lock(mutex_);
    auto it = msi_.find(gsi);
    if (it != msi_.end() && it->second.address == message.address && it->second.data == message.data)
        return;
    msi_[gsi] = message;
    commit();
}

void GsiRouter::clearRoute(uint32_t gsi)
{
    std::lock_guard lock(mutex_);
    if (msi_.erase(gsi))
        commit();
}

void GsiRouter::commit()
{
    std::vector<kvm_irq_routing_entry> table = legacy_;
    for (const auto& [gsi, message] : msi_) {
        kvm_irq_routing_entry e{};
        e.gsi = gsi;
        e.type = KVM_IRQ_ROUTING_MSI;
        e.u.msi.address_lo = static_cast<uint32_t>(message.address);
        e.u.msi.address_hi = static_cast<uint32_t>(message.address >> 32);
        e.u.msi.data = message.data;
        table.push_back(e);
    }
    vm_.setGsiRouting(table.data(), static_cast<uint32_t>(table.size()));
}

}  // namespace mica::pci
