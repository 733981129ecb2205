#include "CmosRtc.h"

#include "StateJson.h"

namespace mica {

namespace {
constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06, kDay = 0x07,
                  kMonth = 0x08, kYear = 0x09, kStatusA = 0x0a, kStatusB = 0x0b, kStatusC = 0x0c,
                  kStatusD = 0x0d, kCentury = 0x32;
uint8_t bcd(int value) { return static_cast<uint8_t>(((value / 10) << 4) | (value % 10)); }
int fromBcd(uint8_t value) { return (value >> 4) * 10 + (value & 0x0f); }
}  // namespace

namespace {
// The guest's clock is kept as its offset from the host's, so a restored guest reads
// the host's time plus whatever it set, as after a reboot.
struct RtcState {
    uint8_t index;
    std::vector<uint8_t> nvram;
    int64_t offset;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RtcState, index, nvram, offset)
}  // namespace

nlohmann::json CmosRtc::save()
{
    std::lock_guard lock(mutex_);
    return RtcState{index_, {std::begin(nvram_), std::end(nvram_)}, static_cast<int64_t>(offset_)};
}

void CmosRtc::restore(const nlohmann::json& state)
{
    auto s = readState<RtcState>(state, "rtc");
    if (s.nvram.size() != sizeof nvram_ || s.index >= sizeof nvram_)
        throw StateError("rtc: the CMOS holds " + std::to_string(sizeof nvram_) + " bytes");
    std::lock_guard lock(mutex_);
    index_ = s.index;
    std::copy(s.nvram.begin(), s.nvram.end(), nvram_);
    offset_ = static_cast<time_t>(s.offset);
}

uint8_t CmosRtc::readRegister(uint8_t index)
{
    time_t now = ::time(nullptr) + offset_;
    struct tm tm{};
    ::gmtime_r(&now, &tm);
    switch (index) {
    case kSeconds: return bcd(tm.tm_sec);
    case kMinutes: return bcd(tm.tm_min);
    case kHours: return bcd(tm.tm_hour);
    case kWeekday: return bcd(tm.tm_wday + 1);
    case kDay: return bcd(tm.tm_mday);
    case kMonth: return bcd(tm.tm_mon + 1);
    case kYear: return bcd(tm.tm_year % 100);
    case kCentury: return bcd(19 + tm.tm_year / 100);
    case kStatusA: return 0x26;  // 32.768 kHz base, 1024 Hz rate; never "update in progress"
    case kStatusB: return 0x02;  // 24-hour, BCD, no interrupts
    case kStatusC: return 0x00;
    case kStatusD: return 0x80;  // battery good
    default: return nvram_[index & 0x7f];
    }
}

void CmosRtc::read(uint64_t offset, std::span<uint8_t> data)
{
    std::lock_guard lock(mutex_);
    for (auto& byte : data)
        byte = offset == 1 ? readRegister(index_) : index_;
}

void CmosRtc::write(uint64_t offset, std::span<const uint8_t> data)
{
    if (data.empty())
        return;
    std::lock_guard lock(mutex_);
    if (offset == 0) {
        index_ = data[0] & 0x7f;  // bit 7 masks NMIs on a PC; nothing to mask here
        return;
    }
    // A guest setting the clock (hwclock --systohc): keep the difference, not the value.
    uint8_t value = data[0];
    time_t now = ::time(nullptr) + offset_;
    struct tm tm{};
    ::gmtime_r(&now, &tm);
    switch (index_) {
    case kSeconds: tm.tm_sec = fromBcd(value); break;
    case kMinutes: tm.tm_min = fromBcd(value); break;
    case kHours: tm.tm_hour = fromBcd(value); break;
    case kDay: tm.tm_mday = fromBcd(value); break;
    case kMonth: tm.tm_mon = fromBcd(value) - 1; break;
    case kYear: tm.tm_year = (tm.tm_year / 100) * 100 + fromBcd(value); break;
    case kStatusA: case kStatusB: case kStatusC: case kStatusD: case kWeekday: case kCentury: return;
    default: nvram_[index_] = value; return;
    }
    offset_ = ::timegm(&tm) - ::time(nullptr);
}

}  // namespace mica
