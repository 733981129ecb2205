// virtio-rng (virtio spec 5.4): fills the driver's buffers from a source file,
// /dev/urandom unless told otherwise. A regular file is read round and round.
#pragma once

#include <string>

#include "UniqueFd.h"
#include "VirtioDevice.h"

namespace mica::virtio {

class VirtioRng : public VirtioDevice {
public:
    // `opened`: the caller's fd on `source` (VmConfig::handedFile), used instead of opening it.
    explicit VirtioRng(const std::string& source, UniqueFd opened = UniqueFd());
    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0x00ff00; }
    uint64_t deviceFeatures() const override { return 0; }
    uint16_t queueCount() const override { return 1; }
    void readConfig(uint64_t, std::span<uint8_t> data) override;
    void processQueue(uint16_t index) override;
    std::string name() const override { return "rng"; }

private:
    std::string source_;
    UniqueFd fd_;
};

}  // namespace mica::virtio
