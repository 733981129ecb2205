// virtio-console (virtio spec 5.3) with one port, the guest's hvc0: transmitq output
// goes to a CharBackend (the same kinds as the serial port), backend input waits in a
// bounded buffer until the driver offers receiveq buffers.
#pragma once

#include <deque>

#include "CharBackend.h"
#include "VirtioDevice.h"

namespace mica::virtio {

class VirtioConsole : public VirtioDevice {
public:
    explicit VirtioConsole(CharBackend* backend) : backend_(backend) {}
    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0x078000; }
    uint64_t deviceFeatures() const override { return 0; }
    uint16_t queueCount() const override { return 2; }
    void readConfig(uint64_t offset, std::span<uint8_t> data) override;
    void processQueue(uint16_t index) override;
    void reset() override;
    std::string name() const override { return "console"; }
    // Bytes from the backend (devices thread). Takes the device mutex itself.
    void receive(std::span<const uint8_t> bytes);

    // Paused, input waits in pending_ (and in a snapshot) instead of reaching the guest.
    void pauseIo() override;
    void resumeIo() override;
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;

private:
    bool paused_ = false;
    void deliver();
    CharBackend* backend_;
    std::deque<uint8_t> pending_;
};

}  // namespace mica::virtio
