// An MSI-X table and pending-bit array as the guest sees them in a BAR, plus the
// capability's enable and function-mask bits. Where an unmasked vector's message goes
// is up to an MsiSink: KVM routes + irqfds in the VMM, a recorder in unit tests.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "GsiRouter.h"

#include <nlohmann/json.hpp>

namespace mica::pci {

class MsiSink {
public:
    virtual ~MsiSink() = default;
    // The vector's message changed or became (un)usable: route it or drop the route.
    virtual void update(uint16_t vector, const MsiMessage& message, bool usable) = 0;
    virtual void fire(uint16_t vector) = 0;
};

class MsixTable {
public:
    static constexpr uint16_t kNoVector = 0xffff;
    static constexpr size_t kEntrySize = 16;
    MsixTable(uint16_t vectors, MsiSink& sink);

    uint16_t size() const { return static_cast<uint16_t>(entries_.size()); }
    void tableRead(uint64_t offset, std::span<uint8_t> data);
    void tableWrite(uint64_t offset, std::span<const uint8_t> data);
    void pbaRead(uint64_t offset, std::span<uint8_t> data);
    // From the capability's message control word.
    void setControl(bool enabled, bool functionMasked);
    bool enabled() const { return enabled_; }
    // The device wants `vector` raised: delivered now, or left pending while masked.
    // Returns false when MSI-X is off (the caller has no other way to interrupt).
    bool signal(uint16_t vector);
    // Every vector's message, mask and pending bit, and the enable and function-mask
    // bits; restore() re-routes every vector and fires what is pending and deliverable.
    nlohmann::json save();
    void restore(const nlohmann::json& state);
    // The capability body (after id and next) and which of its bits the guest may write.
    std::vector<uint8_t> capabilityBody(uint8_t bar, uint32_t tableOffset, uint32_t pbaOffset) const;
    static std::vector<uint8_t> capabilityWritable();

private:
    struct Entry {
        MsiMessage message;
        bool masked = true;
        bool pending = false;
    };
    void refresh(uint16_t vector);
    MsiSink& sink_;
    std::mutex mutex_;
    std::vector<Entry> entries_;
    bool enabled_ = false;
    bool functionMasked_ = false;
};

// The VMM's sink: one GSI and one irqfd eventfd per vector.
class KvmMsiSink : public MsiSink {
public:
    KvmMsiSink(GsiRouter& router, uint16_t vectors);
    ~KvmMsiSink() override;
    void update(uint16_t vector, const MsiMessage& message, bool usable) override;
    void fire(uint16_t vector) override;

private:
    struct Vector {
        uint32_t gsi;
        int eventFd;
    };
    GsiRouter& router_;
    std::vector<Vector> vectors_;
};

}  // namespace mica::pci
