#include "I8042.h"

#include "StateJson.h"

namespace mica {

namespace {
constexpr uint8_t kStatusOutputFull = 0x01, kStatusSystem = 0x04, kStatusCommand = 0x08;
constexpr uint8_t kReadCommandByte = 0x20, kWriteCommandByte = 0x60, kSelfTest = 0xaa,
                  kTestPort1 = 0xab, kTestPort2 = 0xa9, kWriteOutputPort = 0xd1, kPulseReset = 0xfe;
}  // namespace

struct I8042State {
    uint8_t command_byte, pending_command;
    int output;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(I8042State, command_byte, pending_command, output)

nlohmann::json I8042::save()
{
    std::lock_guard lock(mutex_);
    return I8042State{commandByte_, pendingCommand_, output_};
}

void I8042::restore(const nlohmann::json& state)
{
    auto s = readState<I8042State>(state, "i8042");
    if (s.output < -1 || s.output > 0xff)
        throw StateError("i8042: output byte " + std::to_string(s.output) + " out of range");
    std::lock_guard lock(mutex_);
    commandByte_ = s.command_byte, pendingCommand_ = s.pending_command, output_ = s.output;
}

void I8042::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    uint8_t value;
    if (offset == 4) {
        value = kStatusSystem | (pendingCommand_ ? kStatusCommand : 0) | (output_ >= 0 ? kStatusOutputFull : 0);
    } else if (offset == 0 && output_ >= 0) {
        value = static_cast<uint8_t>(output_);
        output_ = -1;
    } else {
        value = 0;
    }
    for (auto& byte : data)
        byte = value;
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (data.empty())
        return;
    uint8_t value = data[0];
    bool reset = false;
    {
        std::lock_guard lock(mutex_);
        if (offset == 4) {
            pendingCommand_ = 0;
            switch (value) {
            case kReadCommandByte: output_ = commandByte_; break;
            case kSelfTest: output_ = 0x55; break;                 // controller OK
            case kTestPort1: case kTestPort2: output_ = 0x00; break;  // port OK, nothing attached
            case kWriteCommandByte: case kWriteOutputPort: pendingCommand_ = value; break;
            case kPulseReset: reset = true; break;
            default: break;
            }
        } else if (offset == 0) {
            if (pendingCommand_ == kWriteCommandByte)
                commandByte_ = value;
            // Output port bit 0 low holds the CPU in reset.
            else if (pendingCommand_ == kWriteOutputPort && !(value & 1))
                reset = true;
            else if (!pendingCommand_)
                output_ = 0xfe;  // a byte for a keyboard that is not there: "resend"
            pendingCommand_ = 0;
        }
    }
    if (reset)
        onReset_();
}

}  // namespace mica
