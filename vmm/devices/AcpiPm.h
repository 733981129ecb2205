// ACPI fixed-hardware power management (PM1a event and control blocks, at the ports
// the FADT names): the power button (PWRBTN_STS raises the SCI when the guest enabled
// it) and S5 soft-off (SLP_TYP = S5 with SLP_EN powers the VM off).
#pragma once

#include "Component.h"

#include <functional>
#include <mutex>

#include "BusDevice.h"

namespace mica {

class AcpiPm : public BusDevice, public Component {
public:
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;
    // Registered over PM1a_EVT_BLK (4 bytes) followed by PM1a_CNT_BLK (2 bytes).
    AcpiPm(IrqLine sci, uint8_t s5SleepType, std::function<void()> onPowerOff);
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;
    // Presses the power button (from the API or a signal).
    void pressPowerButton();

private:
    void updateSci();
    IrqLine sci_;
    uint8_t s5SleepType_;
    std::function<void()> onPowerOff_;
    std::mutex mutex_;
    uint8_t regs_[6] = {};   // PM1_STS, PM1_EN, PM1_CNT, little-endian
    bool sciLevel_ = false;
};

}  // namespace mica
