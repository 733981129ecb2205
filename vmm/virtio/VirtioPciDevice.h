// The virtio 1.x modern PCI transport (virtio spec 4.1) around one VirtioDevice: a
// memory BAR holding the common, ISR, device-specific and notify structures plus the
// MSI-X table, each announced by a vendor capability. Queue doorbells are ioeventfds
// served on the devices EventLoop; interrupts go out through MSI-X irqfds.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "EventLoop.h"
#include "MsixTable.h"
#include "PciDevice.h"
#include "UniqueFd.h"
#include "VirtioDevice.h"
#include "Component.h"

namespace mica::kvm {
class Vm;
}

namespace mica::virtio {

class VirtioPciDevice : public pci::PciDevice, public Component, private QueueHost {
public:
    // BAR 0 layout.
    static constexpr uint64_t kCommonOffset = 0x0000, kIsrOffset = 0x1000, kDeviceOffset = 0x2000,
                              kNotifyOffset = 0x3000, kMsixTableOffset = 0x4000, kMsixPbaOffset = 0x6000,
                              kBarSize = 0x8000;
    static constexpr uint32_t kNotifyMultiplier = 4;

    VirtioPciDevice(std::shared_ptr<VirtioDevice> device, const GuestMemory& memory, kvm::Vm* vm,
                    pci::GsiRouter* router, EventLoop* loop, std::unique_ptr<pci::MsiSink> sink = nullptr);
    ~VirtioPciDevice() override;

    void configWrite(uint16_t offset, std::span<const uint8_t> data) override;
    void barRead(unsigned bar, uint64_t offset, std::span<uint8_t> data) override;
    void barWrite(unsigned bar, uint64_t offset, std::span<const uint8_t> data) override;
    void barMapped(unsigned bar, uint64_t address) override;
    void barUnmapped(unsigned bar, uint64_t address) override;

    // The component contract for the transport and its device together: pause stops the
    // doorbells and the device's own I/O; save covers configuration space, MSI-X, the
    // common configuration, every queue's layout and position, and the device's state.
    void pause() override;
    void resume() override;
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;

    VirtioDevice& device() { return *device_; }
    uint8_t status() const { return status_; }
    uint16_t msixVectors() const { return msix_->size(); }
    // Serves a doorbell of queue `index` (the ioeventfd handler; tests call it directly).
    void kick(uint16_t index);

private:
    struct Queue {
        uint16_t size = 0;
        uint16_t vector = pci::MsixTable::kNoVector;
        bool enabled = false;
        uint64_t desc = 0, avail = 0, used = 0;
        UniqueFd doorbell;
        std::unique_ptr<VirtQueue> ring;
    };
    VirtQueue* queue(uint16_t index) override;
    void notifyUsed(uint16_t index) override;
    uint64_t driverFeatures() const override { return driverFeatures_; }
    void configChanged() override;

    void commonRead(uint64_t offset, std::span<uint8_t> data);
    void commonWrite(uint64_t offset, std::span<const uint8_t> data);
    void setStatus(uint8_t status);
    void resetLocked();
    void needsReset(const std::string& why);
    uint64_t offeredFeatures() const;
    void watchDoorbells();
    void ringDoorbells();

    std::shared_ptr<VirtioDevice> device_;
    const GuestMemory& memory_;
    kvm::Vm* vm_;
    EventLoop* loop_;
    std::unique_ptr<pci::MsiSink> sink_;
    std::unique_ptr<pci::MsixTable> msix_;
    uint8_t msixCap_ = 0;
    std::vector<Queue> queues_;
    std::optional<uint64_t> mappedAt_;
    bool paused_ = false;

    // Guarded by device_->mutex().
    uint32_t deviceFeatureSelect_ = 0, driverFeatureSelect_ = 0;
    uint64_t driverFeatures_ = 0;
    uint16_t queueSelect_ = 0;
    uint16_t configVector_ = pci::MsixTable::kNoVector;
    uint8_t status_ = 0;
    uint8_t isr_ = 0;
};

}  // namespace mica::virtio
