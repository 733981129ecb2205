// The legacy devices as a guest driver sees them, one register access at a time.
#include <gtest/gtest.h>

#include <ctime>
#include <vector>

#include "AcpiGed.h"
#include "AcpiPm.h"
#include "CmosRtc.h"
#include "Error.h"
#include "I8042.h"
#include "IoBus.h"
#include "PciHotplugController.h"
#include "Serial8250.h"

using namespace mica;

namespace {

uint8_t in(BusDevice& d, uint64_t offset)
{
    uint8_t v = 0;
    d.read(offset, {&v, 1});
    return v;
}

void out(BusDevice& d, uint64_t offset, uint8_t v)
{
    d.write(offset, {&v, 1});
}

struct IrqRecorder {
    std::vector<bool> levels;
    IrqLine line() { return [this](bool level) { levels.push_back(level); }; }
    bool level() const { return !levels.empty() && levels.back(); }
};

}  // namespace

TEST(Serial8250, ReceiveRaisesInterruptUntilRead)
{
    IrqRecorder irq;
    Serial8250 uart(irq.line(), nullptr);
    out(uart, 4, 0x08);  // MCR.OUT2: PCs gate the IRQ with it
    out(uart, 1, 0x01);  // IER: receive interrupt
    EXPECT_EQ(in(uart, 2) & 0x0f, 0x01);  // no interrupt pending
    uint8_t bytes[] = {'h', 'i'};
    uart.receive(bytes);
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(in(uart, 5) & 0x01, 0x01);  // LSR data ready
    EXPECT_EQ(in(uart, 2) & 0x0f, 0x04);  // IIR: received data
    EXPECT_EQ(in(uart, 0), 'h');
    EXPECT_EQ(in(uart, 0), 'i');
    EXPECT_FALSE(irq.level());
    EXPECT_EQ(in(uart, 5) & 0x01, 0x00);
}

TEST(Serial8250, TransmitEmptyInterruptIsAcknowledgedByReadingIir)
{
    IrqRecorder irq;
    Serial8250 uart(irq.line(), nullptr);
    out(uart, 4, 0x08);
    out(uart, 1, 0x02);  // enabling THRE with the transmitter empty raises it at once
    EXPECT_TRUE(irq.level());
    EXPECT_EQ(in(uart, 2) & 0x0f, 0x02);
    EXPECT_FALSE(irq.level());
    EXPECT_EQ(in(uart, 2) & 0x0f, 0x01);
    out(uart, 0, 'x');  // each byte sent empties the holding register again
    EXPECT_TRUE(irq.level());
}

TEST(Serial8250, NoInterruptWithoutOut2)
{
    IrqRecorder irq;
    Serial8250 uart(irq.line(), nullptr);
    out(uart, 1, 0x01);
    uint8_t byte = 'a';
    uart.receive({&byte, 1});
    EXPECT_FALSE(irq.level());
    EXPECT_EQ(in(uart, 2) & 0x0f, 0x04);  // still visible by polling
}

TEST(Serial8250, DivisorLatchAndLoopback)
{
    IrqRecorder irq;
    Serial8250 uart(irq.line(), nullptr);
    out(uart, 3, 0x80);  // DLAB
    out(uart, 0, 0x01);
    out(uart, 1, 0x00);
    EXPECT_EQ(in(uart, 0), 0x01);
    out(uart, 3, 0x03);  // 8N1, DLAB off
    out(uart, 4, 0x10);  // loopback: what is sent is received
    out(uart, 0, 0x5a);
    EXPECT_EQ(in(uart, 0), 0x5a);
    EXPECT_EQ(in(uart, 7), 0x00);
    out(uart, 7, 0x77);  // scratch register keeps its value (the 8250 driver probes with it)
    EXPECT_EQ(in(uart, 7), 0x77);
}

TEST(AcpiPm, PowerButtonRaisesSciOnlyWhenEnabled)
{
    IrqRecorder sci;
    bool poweredOff = false;
    AcpiPm pm(sci.line(), 5, [&] { poweredOff = true; });
    EXPECT_EQ(in(pm, 4) & 1, 1);  // SCI_EN: always in ACPI mode
    pm.pressPowerButton();
    EXPECT_FALSE(sci.level());
    EXPECT_EQ(in(pm, 1), 0x01);   // PWRBTN_STS is set regardless
    out(pm, 3, 0x01);             // PWRBTN_EN
    EXPECT_TRUE(sci.level());
    out(pm, 1, 0x01);             // write 1 to clear
    EXPECT_FALSE(sci.level());
    EXPECT_EQ(in(pm, 1), 0x00);
    EXPECT_FALSE(poweredOff);
}

TEST(AcpiPm, SleepTypeS5WithSleepEnablePowersOff)
{
    IrqRecorder sci;
    int powerOffs = 0;
    AcpiPm pm(sci.line(), 5, [&] { ++powerOffs; });
    uint16_t s1 = (1 << 10) | (1 << 13);  // S1 is not supported: nothing happens
    pm.write(4, {reinterpret_cast<uint8_t*>(&s1), 2});
    EXPECT_EQ(powerOffs, 0);
    uint16_t typeOnly = 5 << 10;  // ACPICA writes SLP_TYP first, then adds SLP_EN
    pm.write(4, {reinterpret_cast<uint8_t*>(&typeOnly), 2});
    EXPECT_EQ(powerOffs, 0);
    uint16_t s5 = (5 << 10) | (1 << 13);
    pm.write(4, {reinterpret_cast<uint8_t*>(&s5), 2});
    EXPECT_EQ(powerOffs, 1);
    EXPECT_EQ(in(pm, 5) & 0x20, 0);  // SLP_EN reads back as 0
}

TEST(I8042, AnswersItsProbeAndPulsesReset)
{
    int resets = 0;
    I8042 kbc([&] { ++resets; });
    out(kbc, 4, 0xaa);                 // self test
    EXPECT_EQ(in(kbc, 4) & 0x01, 0x01);
    EXPECT_EQ(in(kbc, 0), 0x55);
    EXPECT_EQ(in(kbc, 4) & 0x01, 0x00);
    out(kbc, 4, 0x60);                 // write command byte
    out(kbc, 0, 0x47);
    out(kbc, 4, 0x20);                 // read it back
    EXPECT_EQ(in(kbc, 0), 0x47);
    EXPECT_EQ(resets, 0);
    out(kbc, 4, 0xfe);
    EXPECT_EQ(resets, 1);
}

TEST(CmosRtc, ReportsTheHostTimeInBcd)
{
    CmosRtc rtc;
    auto reg = [&](uint8_t index) {
        out(rtc, 0, index);
        uint8_t v = in(rtc, 1);
        return (v >> 4) * 10 + (v & 0x0f);
    };
    time_t now = time(nullptr);
    struct tm tm{};
    gmtime_r(&now, &tm);
    EXPECT_EQ(reg(0x09), tm.tm_year % 100);
    EXPECT_EQ(reg(0x32), 19 + tm.tm_year / 100);
    EXPECT_EQ(reg(0x08), tm.tm_mon + 1);
    out(rtc, 0, 0x0b);
    EXPECT_EQ(in(rtc, 1), 0x02);  // 24-hour BCD
    out(rtc, 0, 0x0d);
    EXPECT_EQ(in(rtc, 1), 0x80);  // valid
    out(rtc, 0, 0x40);            // NVRAM keeps what is written
    out(rtc, 1, 0x99);
    out(rtc, 0, 0x40);
    EXPECT_EQ(in(rtc, 1), 0x99);
}

TEST(IoBus, DispatchesByRangeAndRefusesOverlaps)
{
    IoBus bus("test");
    auto uart = std::make_shared<Serial8250>([](bool) {}, nullptr);
    bus.add(0x3f8, 8, uart);
    EXPECT_THROW(bus.add(0x3f0, 9, uart), Error);
    EXPECT_THROW(bus.add(0x3ff, 1, uart), Error);
    bus.add(0x400, 1, uart);  // adjacent is fine
    uint8_t v = 0x33;
    EXPECT_TRUE(bus.write(0x3ff, {&v, 1}));  // scratch register
    v = 0;
    EXPECT_TRUE(bus.read(0x3ff, {&v, 1}));
    EXPECT_EQ(v, 0x33);
    uint8_t wide[4] = {};
    EXPECT_FALSE(bus.read(0x3fe, wide));  // crosses the end of the range: nobody claims it
    EXPECT_EQ(wide[0], 0xff);
    EXPECT_FALSE(bus.read(0x500, {&v, 1}));
    EXPECT_EQ(v, 0xff);
}

// Linux's 8250 autoconfig (autoconfig_16550a) tells a TI16750 by IIR bit 5: set by FCR
// bit 5 written with DLAB set, not without; it then loads 64 bytes per THRE interrupt.
TEST(Serial8250, LinuxFindsA16750)
{
    IrqRecorder irq;
    Serial8250 uart(irq.line(), nullptr);
    out(uart, 3, 0x00);          // LCR: DLAB clear
    out(uart, 2, 0x01 | 0x20);   // FCR: FIFO on, 64-byte mode asked
    EXPECT_EQ(in(uart, 2) >> 5, 6);
    out(uart, 2, 0x01);
    out(uart, 3, 0xbf);          // DLAB set (UART_LCR_CONF_MODE_A)
    out(uart, 2, 0x01 | 0x20);
    EXPECT_EQ(in(uart, 2) >> 5, 7);
    out(uart, 2, 0x01);          // written with DLAB set, without bit 5: 16-byte mode
    EXPECT_EQ(in(uart, 2) >> 5, 6);
    out(uart, 2, 0x00);          // FIFOs off: IIR says neither
    EXPECT_EQ(in(uart, 2) >> 5, 0);
}

// vm.counters' "exits:pio" and "exits:mmio": what reached each range, and where a guest
// probed addresses nobody claims; a burst from the coalesced ring is no exit.
TEST(IoBus, CountsAccessesByRangeAndUnclaimedAddress)
{
    IoBus bus("test");
    bus.add(0x3f8, 8, std::make_shared<Serial8250>([](bool) {}, nullptr));
    uint8_t v = 0;
    bus.read(0x3fd, {&v, 1});
    bus.write(0x3f8, {&v, 1});
    std::vector<uint8_t> burst(64, 'x');
    bus.writeEach(0x3f8, burst);
    bus.read(0x80, {&v, 1});
    bus.write(0x80, {&v, 1});
    for (uint64_t port = 0x1000; port < 0x1000 + 64; ++port)  // 63 more kept, then "other"
        bus.read(port, {&v, 1});
    nlohmann::json counts = bus.accessCounts();
    EXPECT_EQ(counts["0x3f8-0x3ff"], 2);
    EXPECT_EQ(counts["unclaimed 0x80"], 2);
    EXPECT_EQ(counts["unclaimed 0x1000"], 1);
    EXPECT_FALSE(counts.contains("unclaimed 0x103f"));
    EXPECT_EQ(counts["unclaimed, other addresses"], 1);
    EXPECT_EQ(counts.size(), 1u + 64u + 1u);
}

namespace {
uint32_t in32(mica::BusDevice& device, uint64_t offset)
{
    uint8_t bytes[4];
    device.read(offset, bytes);
    return static_cast<uint32_t>(bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24));
}

void out32(mica::BusDevice& device, uint64_t offset, uint32_t value)
{
    uint8_t bytes[4] = {static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value >> 16),
                        static_cast<uint8_t>(value >> 24)};
    device.write(offset, bytes);
}
}  // namespace

TEST(AcpiGed, NotifyPulsesTheLineAndTheEventByteClearsOnRead)
{
    std::vector<bool> levels;
    mica::AcpiGed ged([&](bool level) { levels.push_back(level); });
    EXPECT_EQ(in(ged, 0), 0x00);
    ged.notify(mica::AcpiGed::kPciChanged);
    EXPECT_EQ(levels, (std::vector<bool>{true, false}));   // edge: up and down again
    ged.notify(0x01);
    uint8_t wide[4] = {};
    ged.read(0, wide);                                     // the field is ByteAcc: others read 0
    EXPECT_EQ(wide[0], 0x00);
    EXPECT_EQ(in(ged, 0), 0x05);
    EXPECT_EQ(in(ged, 0), 0x00);
}

TEST(PciHotplugController, UpAndDownBitmapsClearOnReadAndEjectNamesEachSlot)
{
    std::vector<unsigned> ejected;
    mica::PciHotplugController hp([&](unsigned slot) { ejected.push_back(slot); });
    using C = mica::PciHotplugController;
    hp.plugged(3);
    hp.plugged(5);
    EXPECT_EQ(in(hp, C::kPciUp), 0x00);                    // a byte access reads nothing
    EXPECT_EQ(in32(hp, C::kPciUp), (1u << 3) | (1u << 5));
    EXPECT_EQ(in32(hp, C::kPciUp), 0u);
    hp.unplugRequested(7);
    hp.unplugRequested(9);
    hp.cancelUnplug(9);
    EXPECT_EQ(in32(hp, C::kPciDown), 1u << 7);
    EXPECT_EQ(in32(hp, C::kPciDown), 0u);
    // A slot asked to go and then plugged again is up, not down.
    hp.unplugRequested(4);
    hp.plugged(4);
    EXPECT_EQ(in32(hp, C::kPciDown), 0u);
    EXPECT_EQ(in32(hp, C::kPciUp), 1u << 4);
    out32(hp, C::kEject, (1u << 7) | (1u << 2));
    EXPECT_EQ(ejected, (std::vector<unsigned>{2, 7}));
    EXPECT_EQ(in32(hp, C::kEject), 0u);
    out32(hp, C::kSegment, 1u << 3);                       // not the eject register
    hp.write(C::kEject, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("\x08"), 1));   // nor a byte
    EXPECT_EQ(ejected.size(), 2u);
}
