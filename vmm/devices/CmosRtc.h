// The CMOS real-time clock at ports 0x70/0x71 (MC146818): the host's current UTC time
// in BCD, 24-hour mode, so the guest's clock starts right. Writes to the time are
// accepted and kept as an offset from the host's time.
#pragma once

#include "Component.h"

#include <ctime>
#include <mutex>

#include "BusDevice.h"

namespace mica {

class CmosRtc : public BusDevice, public Component {
public:
    nlohmann::json save() override;
    void restore(const nlohmann::json& state) override;
    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

private:
    uint8_t readRegister(uint8_t index);
    std::mutex mutex_;
    uint8_t index_ = 0;
    uint8_t nvram_[128] = {};
    time_t offset_ = 0;    // guest time - host time, from guest writes
};

}  // namespace mica
