// Byte-exact checks of the AML builder against the encodings of ACPI 6.4 chapter 20 and
// section 6.4. acpica_test.cpp checks the same builder against what iasl compiles.
#include "Aml.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace aml = mica::x86::aml;
using Bytes = std::vector<uint8_t>;

namespace {

// Decodes a PkgLength; returns {value, bytes used}.
std::pair<std::size_t, std::size_t> decodePkgLength(const Bytes& bytes)
{
    std::size_t follow = bytes.at(0) >> 6;
    if (follow == 0)
        return {bytes[0] & 0x3f, 1};
    std::size_t value = bytes[0] & 0x0f;
    for (std::size_t i = 0; i < follow; i++)
        value |= std::size_t{bytes.at(1 + i)} << (4 + 8 * i);
    return {value, 1 + follow};
}

Bytes cat(std::initializer_list<Bytes> parts)
{
    Bytes out;
    for (const Bytes& part : parts)
        out.insert(out.end(), part.begin(), part.end());
    return out;
}

Bytes chars(std::string_view text)
{
    return Bytes(text.begin(), text.end());
}

}  // namespace

// The encoded value counts the PkgLength bytes themselves: 63 is the largest one-byte
// total, 4095 the largest two-byte total, and so on.
TEST(AmlPkgLength, OneByteUpToTotal63)
{
    EXPECT_EQ(aml::pkgLength(0), (Bytes{0x01}));
    EXPECT_EQ(aml::pkgLength(61), (Bytes{0x3e}));
    EXPECT_EQ(aml::pkgLength(62), (Bytes{0x3f}));                 // total 63
}

TEST(AmlPkgLength, TwoBytesFromTotal64)
{
    // payload 63: one byte would make 64, which does not fit 6 bits; with two bytes the
    // total is 65 = 0x041 -> lead 0x40 | 0x1, then 0x04.
    EXPECT_EQ(aml::pkgLength(63), (Bytes{0x41, 0x04}));
    EXPECT_EQ(aml::pkgLength(64), (Bytes{0x42, 0x04}));
    EXPECT_EQ(aml::pkgLength(4093), (Bytes{0x4f, 0xff}));         // total 4095
}

TEST(AmlPkgLength, ThreeBytesFromTotal4096)
{
    EXPECT_EQ(aml::pkgLength(4094), (Bytes{0x81, 0x00, 0x01}));   // total 4097
    EXPECT_EQ(aml::pkgLength(4095), (Bytes{0x82, 0x00, 0x01}));
    EXPECT_EQ(aml::pkgLength((1u << 20) - 4), (Bytes{0x8f, 0xff, 0xff}));   // total 2^20 - 1
}

TEST(AmlPkgLength, FourBytesUpTo2To28)
{
    EXPECT_EQ(aml::pkgLength((1u << 20) - 3), (Bytes{0xc1, 0x00, 0x00, 0x01}));
    EXPECT_EQ(aml::pkgLength((1u << 28) - 5), (Bytes{0xcf, 0xff, 0xff, 0xff}));
    EXPECT_THROW(aml::pkgLength((1u << 28) - 4), std::invalid_argument);
}

TEST(AmlPkgLength, EveryLengthDecodesToItselfInTheFewestBytes)
{
    for (std::size_t payload = 0; payload < 70000; payload++) {
        Bytes encoded = aml::pkgLength(payload);
        auto [value, used] = decodePkgLength(encoded);
        ASSERT_EQ(used, encoded.size()) << payload;
        ASSERT_EQ(value, payload + used) << payload;
        std::size_t fewest = payload + 1 < 64 ? 1 : payload + 2 < 4096 ? 2 : 3;
        ASSERT_EQ(used, fewest) << payload;
    }
}

TEST(AmlPkgLength, BufferOf4096BytesUsesThreeBytes)
{
    Bytes data(4096, 0xaa);
    Bytes buffer = aml::buffer(data);
    // BufferOp, PkgLength(3), WordConst 0x1000 (3), data.
    ASSERT_EQ(buffer.size(), 1 + 3 + 3 + 4096u);
    EXPECT_EQ(buffer[0], 0x11);
    auto [value, used] = decodePkgLength(Bytes(buffer.begin() + 1, buffer.begin() + 4));
    EXPECT_EQ(used, 3u);
    EXPECT_EQ(value, buffer.size() - 1);
    EXPECT_EQ(Bytes(buffer.begin() + 4, buffer.begin() + 7), (Bytes{0x0b, 0x00, 0x10}));
}

TEST(AmlInteger, ShortestEncoding)
{
    EXPECT_EQ(aml::integer(0), (Bytes{0x00}));
    EXPECT_EQ(aml::integer(1), (Bytes{0x01}));
    EXPECT_EQ(aml::integer(2), (Bytes{0x0a, 0x02}));
    EXPECT_EQ(aml::integer(0xff), (Bytes{0x0a, 0xff}));
    EXPECT_EQ(aml::integer(0x100), (Bytes{0x0b, 0x00, 0x01}));
    EXPECT_EQ(aml::integer(0xffff), (Bytes{0x0b, 0xff, 0xff}));
    EXPECT_EQ(aml::integer(0x10000), (Bytes{0x0c, 0x00, 0x00, 0x01, 0x00}));
    EXPECT_EQ(aml::integer(0xffffffff), (Bytes{0x0c, 0xff, 0xff, 0xff, 0xff}));
    EXPECT_EQ(aml::integer(0x100000000), (Bytes{0x0e, 0, 0, 0, 0, 1, 0, 0, 0}));
    EXPECT_EQ(aml::integer(0x0123456789abcdef), (Bytes{0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01}));
    // Not OnesOp (0xff), whose width depends on the table revision.
    EXPECT_EQ(aml::integer(UINT64_MAX), (Bytes{0x0e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(AmlString, NulTerminatedAscii)
{
    EXPECT_EQ(aml::string("ab"), (Bytes{0x0d, 'a', 'b', 0x00}));
    EXPECT_EQ(aml::string(""), (Bytes{0x0d, 0x00}));
    EXPECT_THROW(aml::string(std::string_view("a\0b", 3)), std::invalid_argument);
}

TEST(AmlNameString, Segments)
{
    EXPECT_EQ(aml::nameString("_S5_"), chars("_S5_"));
    EXPECT_EQ(aml::nameString("_SB"), chars("_SB_"));          // padded
    EXPECT_EQ(aml::nameString("\\_S5_"), chars("\\_S5_"));
    EXPECT_EQ(aml::nameString("\\_SB.PCI0"), cat({{0x5c, 0x2e}, chars("_SB_PCI0")}));
    EXPECT_EQ(aml::nameString("\\_SB.PCI0.S08"), cat({{0x5c, 0x2f, 0x03}, chars("_SB_PCI0S08_")}));
    EXPECT_EQ(aml::nameString("^^PCI0"), cat({{0x5e, 0x5e}, chars("PCI0")}));
    EXPECT_EQ(aml::nameString("\\"), (Bytes{0x5c, 0x00}));
}

TEST(AmlNameString, RefusesBadNames)
{
    for (const char* bad : {"", "PCI00", "pci0", "0ABC", "\\_SB.", "\\_SB..PCI0", "A-B", "^\\A"})
        EXPECT_THROW(aml::nameString(bad), std::invalid_argument) << bad;
}

TEST(AmlEisaId, CompressedIds)
{
    EXPECT_EQ(aml::eisaIdValue("PNP0A03"), 0x030ad041u);
    EXPECT_EQ(aml::eisaIdValue("PNP0A08"), 0x080ad041u);
    EXPECT_EQ(aml::eisaIdValue("PNP0501"), 0x0105d041u);
    EXPECT_EQ(aml::eisaIdValue("PNP0C02"), 0x020cd041u);
    EXPECT_EQ(aml::eisaId("PNP0A03"), (Bytes{0x0c, 0x41, 0xd0, 0x0a, 0x03}));
    for (const char* bad : {"PNP0A0", "pnp0a03", "PNP0a03", "P1P0A03", "PNP0A0G"})
        EXPECT_THROW(aml::eisaIdValue(bad), std::invalid_argument) << bad;
}

TEST(AmlObjects, NamePackage)
{
    // Name (\_S5_, Package (4) {5, 5, 0, 0})
    Bytes s5 = aml::name("\\_S5_", aml::package({aml::integer(5), aml::integer(5), aml::integer(0), aml::integer(0)}));
    EXPECT_EQ(s5, cat({{0x08}, chars("\\_S5_"), {0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00}}));
    EXPECT_THROW(aml::package(std::vector<Bytes>(256, aml::integer(0))), std::invalid_argument);
}

TEST(AmlObjects, MethodDeviceScope)
{
    EXPECT_EQ(aml::method("_PIC", 1, false, {}), cat({{0x14, 0x06}, chars("_PIC"), {0x01}}));
    EXPECT_EQ(aml::method("M", 2, true, aml::returnValue(aml::arg(1))),
              cat({{0x14, 0x08}, chars("M___"), {0x0a, 0xa4, 0x69}}));
    EXPECT_EQ(aml::store(aml::arg(0), aml::local(7)), (Bytes{0x70, 0x68, 0x67}));
    EXPECT_THROW(aml::method("M", 8, false, {}), std::invalid_argument);
    EXPECT_THROW(aml::arg(7), std::invalid_argument);
    EXPECT_THROW(aml::local(8), std::invalid_argument);

    Bytes uid = aml::name("_UID", aml::integer(1));
    EXPECT_EQ(aml::device("COM1", uid), cat({{0x5b, 0x82, 0x0b}, chars("COM1"), uid}));
    EXPECT_EQ(aml::scope("\\_SB", uid), cat({{0x10, 0x0c}, chars("\\_SB_"), uid}));
}

TEST(AmlObjects, Buffer)
{
    EXPECT_EQ(aml::buffer(Bytes{1, 2, 3}), (Bytes{0x11, 0x06, 0x0a, 0x03, 1, 2, 3}));
    EXPECT_EQ(aml::buffer(Bytes{}), (Bytes{0x11, 0x02, 0x00}));
}

TEST(AmlResourceTemplate, SmallDescriptors)
{
    aml::ResourceTemplate crs;
    crs.io(0x3f8, 0x3f8, 1, 8).irqNoFlags(4).irq(9, aml::Trigger::Level, aml::Polarity::ActiveLow, aml::Sharing::Shared);
    Bytes expected{0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
                   0x22, 0x10, 0x00,
                   0x23, 0x00, 0x02, 0x18,
                   0x79, 0x00};
    EXPECT_EQ(crs.buffer(), cat({{0x11, 0x14, 0x0a, 0x11}, expected}));
    EXPECT_THROW(aml::ResourceTemplate().irqNoFlags(16), std::invalid_argument);
}

TEST(AmlResourceTemplate, LargeDescriptors)
{
    auto body = [](const aml::ResourceTemplate& crs) {
        Bytes buffer = crs.buffer();
        // Skip BufferOp, PkgLength (one byte here) and the size integer (ByteConst).
        return Bytes(buffer.begin() + 4, buffer.end() - 2);
    };
    EXPECT_EQ(body(aml::ResourceTemplate().memory32Fixed(0xe0000000, 0x10000000)),
              (Bytes{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x10}));
    EXPECT_EQ(body(aml::ResourceTemplate().wordBusNumber(0, 0xff)),
              (Bytes{0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0xff, 0, 0, 0, 0x00, 0x01}));
    EXPECT_EQ(body(aml::ResourceTemplate().wordIo(0x0d00, 0xffff)),
              (Bytes{0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3}));
    Bytes dword = body(aml::ResourceTemplate().dwordMemory(0xc0000000, 0xdfffffff, false));
    EXPECT_EQ(dword, (Bytes{0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0,
                            0xff, 0xff, 0xff, 0xdf, 0, 0, 0, 0, 0, 0, 0, 0x20}));
    Bytes qword = body(aml::ResourceTemplate().qwordMemory(0x1000000000, 0x1fffffffff, true, true,
                                                           aml::Usage::Consumer));
    ASSERT_EQ(qword.size(), 46u);
    EXPECT_EQ(Bytes(qword.begin(), qword.begin() + 6), (Bytes{0x8a, 0x2b, 0x00, 0x00, 0x0d, 0x03}));
    EXPECT_EQ(Bytes(qword.begin() + 38, qword.end()), (Bytes{0, 0, 0, 0, 0x10, 0, 0, 0}));   // length
    EXPECT_EQ(body(aml::ResourceTemplate().interrupt(aml::Usage::Consumer, aml::Trigger::Level,
                                                     aml::Polarity::ActiveHigh, aml::Sharing::Exclusive, {5, 40})),
              (Bytes{0x89, 0x0a, 0x00, 0x01, 0x02, 5, 0, 0, 0, 40, 0, 0, 0}));
    EXPECT_THROW(aml::ResourceTemplate().wordIo(2, 1), std::invalid_argument);
    EXPECT_THROW(aml::ResourceTemplate().interrupt(aml::Usage::Consumer, aml::Trigger::Edge, aml::Polarity::ActiveHigh,
                                                   aml::Sharing::Exclusive, {}),
                 std::invalid_argument);
}

// The operators the hotplug methods use, ACPI 6.4 sections 20.2.5.2-20.2.5.4.
TEST(AmlHotplugOps, RegionsFieldsAndMutexes)
{
    EXPECT_EQ(aml::opRegion("PCST", aml::RegionSpace::SystemIo, 0xae00, 0x10),
              (Bytes{0x5b, 0x80, 'P', 'C', 'S', 'T', 0x01, 0x0b, 0x00, 0xae, 0x0a, 0x10}));
    // Field (PCST, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, , 32, GDAT, 8 }
    EXPECT_EQ(aml::field("PCST", aml::FieldAccess::DWord, aml::FieldUpdate::WriteAsZeros,
                         {{"PCIU", 32}, {"", 32}, {"GDAT", 8}}),
              (Bytes{0x5b, 0x81, 0x12, 'P', 'C', 'S', 'T', 0x43, 'P', 'C', 'I', 'U', 32, 0x00, 32, 'G', 'D', 'A', 'T', 8}));
    // A field of 64 bits or more takes PkgLength's two-byte form, of the bit count itself.
    Bytes wide = aml::field("R", aml::FieldAccess::Any, aml::FieldUpdate::Preserve, {{"WIDE", 0x100}});
    EXPECT_EQ(Bytes(wide.end() - 2, wide.end()), (Bytes{0x40, 0x10}));
    EXPECT_THROW(aml::field("R", aml::FieldAccess::Byte, aml::FieldUpdate::Preserve, {{"A.B", 8}}), std::invalid_argument);
    EXPECT_THROW(aml::field("R", aml::FieldAccess::Byte, aml::FieldUpdate::Preserve, {{"ZERO", 0}}), std::invalid_argument);
    EXPECT_EQ(aml::mutex("BLCK"), (Bytes{0x5b, 0x01, 'B', 'L', 'C', 'K', 0x00}));
    EXPECT_EQ(aml::acquire("BLCK", 0xffff), (Bytes{0x5b, 0x23, 'B', 'L', 'C', 'K', 0xff, 0xff}));
    EXPECT_EQ(aml::release("BLCK"), (Bytes{0x5b, 0x27, 'B', 'L', 'C', 'K'}));
}

TEST(AmlHotplugOps, ConditionsArithmeticNotifyAndCalls)
{
    // If (LEqual (And (Arg0, 0x02), 0x02)) { Notify (S001, Arg1) }
    Bytes test = aml::ifThen(aml::lEqual(aml::andOp(aml::arg(0), aml::integer(2)), aml::integer(2)),
                             aml::notify(aml::nameRef("S001"), aml::arg(1)));
    EXPECT_EQ(test, (Bytes{0xa0, 0x0f, 0x93, 0x7b, 0x68, 0x0a, 0x02, 0x00, 0x0a, 0x02, 0x86, 'S', '0', '0', '1', 0x69}));
    EXPECT_EQ(aml::elseDo(aml::returnValue(aml::integer(0))), (Bytes{0xa1, 0x03, 0xa4, 0x00}));
    EXPECT_EQ(aml::whileDo(aml::lLess(aml::local(0), aml::integer(4)), aml::increment(aml::local(0))),
              (Bytes{0xa2, 0x07, 0x95, 0x60, 0x0a, 0x04, 0x75, 0x60}));
    EXPECT_EQ(aml::shiftLeft(aml::integer(1), aml::arg(0), aml::local(1)), (Bytes{0x79, 0x01, 0x68, 0x61}));
    EXPECT_EQ(aml::orOp(aml::local(0), aml::integer(1), aml::local(0)), (Bytes{0x7d, 0x60, 0x01, 0x60}));
    EXPECT_EQ(aml::add(aml::local(0), aml::integer(1)), (Bytes{0x72, 0x60, 0x01, 0x00}));
    EXPECT_EQ(aml::call("\\_SB_.PHPR.PCEJ", {aml::nameRef("_SUN")}),
              (Bytes{'\\', 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'H', 'P', 'R', 'P', 'C', 'E', 'J', '_', 'S', 'U', 'N'}));
    EXPECT_EQ(aml::call("PSCN"), (Bytes{'P', 'S', 'C', 'N'}));
}
