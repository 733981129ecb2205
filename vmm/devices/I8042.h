// The PC keyboard controller at ports 0x60/0x64, reduced to what a guest without a
// keyboard needs: a controller that answers its probe (no keyboard or mouse behind it)
// and the 0xFE "pulse reset line" command, which Linux uses to reboot (and the ACPI
// reset register points here as well).
#pragma once

#include "Component.h"

#include <functional>
#include <mutex>

#include "BusDevice.h"

namespace mica {

class I8042 : public BusDevice, public Component {
public:
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;
    explicit I8042(std::function<void()> onReset) : onReset_(std::move(onReset)) {}
    // Registered at 0x60 with length 5: offset 0 is the data port, offset 4 the command port.
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    std::function<void()> onReset_;
    std::mutex mutex_;
    uint8_t commandByte_ = 0x30;   // both ports disabled, no interrupts
    uint8_t pendingCommand_ = 0;   // a command waiting for its data byte
    int output_ = -1;              // the byte the guest reads next from port 0x60, -1 none
};

}  // namespace mica
