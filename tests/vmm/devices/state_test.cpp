// The legacy devices' save/restore round trip (state -> JSON -> a fresh device -> the
// same JSON) and the state helpers' refusals: what a damaged snapshot meets.
#include <gtest/gtest.h>

#include "AcpiPm.h"
#include "CmosRtc.h"
#include "I8042.h"
#include "Serial8250.h"
#include "StateJson.h"

using namespace mica;

namespace {

void put(BusDevice& device, uint64_t offset, uint8_t value)
{
    device.write(offset, {&value, 1});
}

template <typename Device, typename... Args>
void expectRoundTrip(Device& used, Args&&... args)
{
    auto saved = used.save();
    Device fresh(std::forward<Args>(args)...);
    fresh.restore(nlohmann::json::parse(saved.dump()));
    EXPECT_EQ(fresh.save(), saved);
}

}  // namespace

TEST(DeviceState, SerialRoundTrip)
{
    Serial8250 serial([](bool) {}, nullptr);
    put(serial, 3, 0x83);  // DLAB, 8 bits
    put(serial, 0, 0x01);  // divisor 1
    put(serial, 3, 0x03);
    put(serial, 1, 0x03);  // IER
    put(serial, 7, 0x5a);  // scratch
    uint8_t input[] = {'h', 'i'};
    serial.receive(input);
    expectRoundTrip(serial, [](bool) {}, nullptr);
}

TEST(DeviceState, SerialRefusesTooMuchInput)
{
    Serial8250 serial([](bool) {}, nullptr);
    auto saved = serial.save();
    saved["rx"] = std::vector<uint8_t>(1 << 20, 'x');
    EXPECT_THROW(serial.restore(saved), StateError);
    saved.erase("rx");
    EXPECT_THROW(serial.restore(saved), StateError);
}

TEST(DeviceState, RtcI8042AcpiPmRoundTrip)
{
    CmosRtc rtc;
    put(rtc, 0, 0x20);
    put(rtc, 1, 0x42);  // an NVRAM byte
    expectRoundTrip(rtc);

    I8042 i8042([] {});
    put(i8042, 4, 0x20);  // "read command byte": an output byte is waiting
    expectRoundTrip(i8042, [] {});

    AcpiPm pm([](bool) {}, 5, [] {});
    put(pm, 2, 0x00);
    put(pm, 3, 0x01);  // PWRBTN_EN
    expectRoundTrip(pm, [](bool) {}, 5, [] {});

    auto bad = rtc.save();
    bad["nvram"] = std::vector<uint8_t>(3, 0);
    EXPECT_THROW(rtc.restore(bad), StateError);
    auto badOutput = i8042.save();
    badOutput["output"] = 4096;
    EXPECT_THROW(i8042.restore(badOutput), StateError);
}

TEST(StateJson, Base64)
{
    for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        std::vector<uint8_t> bytes(text.begin(), text.end());
        EXPECT_EQ(decodeBase64(encodeBase64(bytes), "t"), bytes) << text;
    }
    EXPECT_EQ(encodeBase64(std::vector<uint8_t>{'f', 'o', 'o', 'b'}), "Zm9vYg==");
    for (const char* bad : {"Zm9", "Zm9v!A==", "Zg==Zg==", "====", "Z==="})
        EXPECT_THROW(decodeBase64(bad, "t"), StateError) << bad;
}

TEST(StateJson, BlobsHaveTheirSize)
{
    struct Two {
        uint32_t a, b;
    } value{1, 2};
    auto json = blob(value);
    auto back = fromBlob<Two>(json, "two");
    EXPECT_EQ(back.a, 1u);
    EXPECT_EQ(back.b, 2u);
    EXPECT_THROW(fromBlob<uint64_t>(blob(uint32_t{7}), "short"), StateError);
    EXPECT_THROW(fromBlob<uint32_t>(nlohmann::json(5), "number"), StateError);
}
