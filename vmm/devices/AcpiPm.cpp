#include "AcpiPm.h"

#include "StateJson.h"

namespace mica {

namespace {
constexpr uint16_t kPowerButton = 1 << 8;              // PWRBTN_STS / PWRBTN_EN
constexpr uint16_t kSciEnable = 1 << 0;                // PM1_CNT.SCI_EN
constexpr uint16_t kSleepEnable = 1 << 13;             // PM1_CNT.SLP_EN
constexpr unsigned kStatus = 0, kEnable = 2, kControl = 4;
}  // namespace

AcpiPm::AcpiPm(IrqLine sci, uint8_t s5SleepType, std::function<void()> onPowerOff)
    : sci_(std::move(sci)), s5SleepType_(s5SleepType), onPowerOff_(std::move(onPowerOff))
{
    // No SMI_CMD in the FADT: the platform is always in ACPI mode.
    regs_[kControl] = kSciEnable;
}

struct AcpiPmState {
    std::vector<uint8_t> regs;
    bool sci_level;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AcpiPmState, regs, sci_level)

nlohmann::json AcpiPm::save()
{
    std::lock_guard lock(mutex_);
    return AcpiPmState{{std::begin(regs_), std::end(regs_)}, sciLevel_};
}

void AcpiPm::restore(const nlohmann::json& state)
{
    auto s = readState<AcpiPmState>(state, "acpi-pm");
    if (s.regs.size() != sizeof regs_)
        throw StateError("acpi-pm: expected " + std::to_string(sizeof regs_) + " register bytes");
    std::lock_guard lock(mutex_);
    std::copy(s.regs.begin(), s.regs.end(), regs_);
    sciLevel_ = s.sci_level;
}

void AcpiPm::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < sizeof regs_ ? regs_[offset + i] : 0;
}

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data)
{
    bool powerOff = false;
    {
        std::lock_guard lock(mutex_);
        for (size_t i = 0; i < data.size() && offset + i < sizeof regs_; ++i) {
            size_t at = offset + i;
            if (at < kEnable)
                regs_[at] &= static_cast<uint8_t>(~data[i]);  // status bits are write-1-to-clear
            else
                regs_[at] = data[i];
        }
        uint16_t control = static_cast<uint16_t>(regs_[kControl] | (regs_[kControl + 1] << 8));
        if (control & kSleepEnable) {
            unsigned sleepType = (control >> 10) & 7;
            powerOff = sleepType == s5SleepType_;
            control = static_cast<uint16_t>((control & ~kSleepEnable) | kSciEnable);  // SLP_EN reads as 0
            regs_[kControl] = static_cast<uint8_t>(control);
            regs_[kControl + 1] = static_cast<uint8_t>(control >> 8);
        }
        updateSci();
    }
    if (powerOff)
        onPowerOff_();
}

void AcpiPm::pressPowerButton()
{
    std::lock_guard lock(mutex_);
    regs_[kStatus + 1] |= kPowerButton >> 8;
    updateSci();
}

void AcpiPm::updateSci()
{
    uint16_t status = static_cast<uint16_t>(regs_[kStatus] | (regs_[kStatus + 1] << 8));
    uint16_t enable = static_cast<uint16_t>(regs_[kEnable] | (regs_[kEnable + 1] << 8));
    bool level = (status & enable) != 0;
    if (level != sciLevel_) {
        sciLevel_ = level;
        sci_(level);
    }
}

}  // namespace mica
