// XDR codec: byte-exact encodings (checked against libvirtd's wire captures in
// rpc-traces/) and a decoder that refuses truncated, over-bound or trailing input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "Protocol.h"
#include "RemoteTypes.h"
#include "Xdr.h"

using namespace mica::rpc;

namespace {

std::vector<std::uint8_t> hex(std::string_view h)
{
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

}  // namespace

TEST(Xdr, IntegersAreBigEndianWords)
{
    XdrEncoder e;
    e.putU32(0x01020304);
    e.putI32(-1);
    e.putU64(0x1122334455667788ull);
    e.putI64(-2);
    e.putBool(true);
    EXPECT_EQ(e.bytes(), hex("01020304ffffffff1122334455667788fffffffffffffffe00000001"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(d.getU32(), 0x01020304u);
    EXPECT_EQ(d.getI32(), -1);
    EXPECT_EQ(d.getU64(), 0x1122334455667788ull);
    EXPECT_EQ(d.getI64(), -2);
    EXPECT_TRUE(d.getBool());
    EXPECT_NO_THROW(d.expectEnd());
}

TEST(Xdr, DoubleRoundTrips)
{
    XdrEncoder e;
    e.putDouble(1.5);
    EXPECT_EQ(e.bytes(), hex("3ff8000000000000"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(d.getDouble(), 1.5);
}

TEST(Xdr, StringsArePaddedWithoutNul)
{
    XdrEncoder e;
    e.putString("test:///default");   // CONNECT_OPEN name in the virsh trace
    EXPECT_EQ(e.bytes(), hex("0000000f746573743a2f2f2f64656661756c7400"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(d.getString(100), "test:///default");
    d.expectEnd();
}

TEST(Xdr, OptionalStringHasPresenceWord)
{
    XdrEncoder e;
    e.putOptionalString(std::nullopt);
    e.putOptionalString(std::string("ab"));
    EXPECT_EQ(e.bytes(), hex("00000000000000010000000261620000"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(d.getOptionalString(10), std::nullopt);
    EXPECT_EQ(d.getOptionalString(10), "ab");
}

TEST(Xdr, FixedCharArrayWidensEachChar)
{
    XdrEncoder e;
    e.putFixedCharArray("i686", 32);   // remote_node_get_info_ret.model in the trace
    ASSERT_EQ(e.size(), 128u);
    auto b = e.bytes();
    EXPECT_EQ(std::vector<std::uint8_t>(b.begin(), b.begin() + 20),
              hex("0000006900000036000000380000003600000000"));
}

TEST(Xdr, OpaqueFixedAndVariable)
{
    XdrEncoder e;
    std::uint8_t one[] = {0x15};
    e.putVarOpaque(one);   // NODE_GET_CPU_MAP cpumap in the trace
    e.putFixedOpaque(one);
    EXPECT_EQ(e.bytes(), hex("000000011500000015000000"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(d.getVarOpaque(4), std::vector<std::uint8_t>{0x15});
    EXPECT_EQ(d.getFixedOpaque(1), std::vector<std::uint8_t>{0x15});
    d.expectEnd();
}

TEST(Xdr, TruncationIsAnError)
{
    auto b = hex("000000");
    XdrDecoder d(b);
    EXPECT_THROW(d.getU32(), XdrError);
    auto s = hex("0000000a6162");   // claims 10 bytes, has 2
    XdrDecoder d2(s);
    EXPECT_THROW(d2.getString(100), XdrError);
}

TEST(Xdr, BoundsAreEnforcedBeforeAllocation)
{
    auto s = hex("ffffffff");
    XdrDecoder d(s);
    EXPECT_THROW(d.getString(kRemoteStringMax), XdrError);
    XdrDecoder d2(s);
    EXPECT_THROW(d2.getVarOpaque(16), XdrError);
    // Within the bound but more elements than bytes left: refused up front.
    auto a = hex("00001000");
    XdrDecoder d3(a);
    EXPECT_THROW(d3.getArrayCount(kRemoteDomainListMax, 4), XdrError);
    auto over = hex("00004001");
    XdrDecoder d4(over);
    EXPECT_THROW(d4.getArrayCount(kRemoteDomainListMax, 0), XdrError);
}

TEST(Xdr, BooleansAndPresenceWordsDecodeAsTirpcDoes)
{
    // tirpc's xdr_bool: zero is false, any other word true. A pure-Go client sends
    // 0x01000000 for true (and libvirt's own decoder accepts it).
    struct Case {
        const char* word;
        bool value;
    };
    for (Case c : {Case{"00000000", false}, Case{"00000001", true}, Case{"01000000", true},
                   Case{"ffffffff", true}}) {
        SCOPED_TRACE(c.word);
        auto b = hex(c.word);
        XdrDecoder d(b);
        EXPECT_EQ(d.getBool(), c.value);
        d.expectEnd();
        XdrDecoder d2(b);
        EXPECT_EQ(d2.getPresent(), c.value);
        d2.expectEnd();
    }
    // An optional string behind a nonstandard presence word.
    auto s = hex("01000000" "00000002" "6f6b0000");
    XdrDecoder d(s);
    EXPECT_EQ(d.getOptionalString(100), std::optional<std::string>("ok"));
    d.expectEnd();
    // What we send stays 0 or 1.
    XdrEncoder e;
    e.putBool(true);
    e.putBool(false);
    e.putOptionalString(std::string());
    EXPECT_EQ(e.bytes(), hex("00000001" "00000000" "00000001" "00000000"));
    // A truncated word is still an error.
    auto t = hex("000000");
    XdrDecoder dt(t);
    EXPECT_THROW(dt.getBool(), XdrError);
}

TEST(Xdr, TrailingBytesAreAnError)
{
    auto b = hex("0000000100000002");
    XdrDecoder d(b);
    d.getU32();
    EXPECT_THROW(d.expectEnd(), XdrError);
}

TEST(Xdr, DomainMatchesTrace)
{
    DomainRef dom{"test", {}, 1};
    auto uuid = hex("6695eb01f6a4830479aa97f2502e193f");
    std::copy(uuid.begin(), uuid.end(), dom.uuid.begin());
    XdrEncoder e;
    encodeDomain(e, dom);
    EXPECT_EQ(e.bytes(), hex("00000004746573746695eb01f6a4830479aa97f2502e193f00000001"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(decodeDomain(d), dom);
}

TEST(Xdr, TypedParamsRoundTrip)
{
    std::vector<TypedParam> params = {
        {"state.state", std::int32_t{1}},
        {"u", std::uint32_t{7}},
        {"l", std::int64_t{-5}},
        {"cpu.time", std::uint64_t{123456789012ull}},
        {"d", 2.25},
        {"b", TypedParam::Boolean{true}},
        {"s", std::string("hello")},
    };
    XdrEncoder e;
    encodeTypedParams(e, params);
    auto b = e.bytes();
    // First element as libvirtd sent it in CONNECT_GET_ALL_DOMAIN_STATS.
    EXPECT_EQ(std::vector<std::uint8_t>(b.begin() + 4, b.begin() + 4 + 24),
              hex("0000000b73746174652e737461746500" "0000000100000001"));
    XdrDecoder d(b);
    EXPECT_EQ(decodeTypedParams(d, 16), params);
    d.expectEnd();
}

TEST(Xdr, TypedParamUnknownTypeAndLongFieldRefused)
{
    XdrEncoder e;
    e.putU32(1);
    e.putString("x");
    e.putI32(9);
    e.putI32(0);
    XdrDecoder d(e.bytes());
    EXPECT_THROW(decodeTypedParams(d, 16), XdrError);

    XdrEncoder e2;
    e2.putU32(1);
    e2.putString(std::string(80, 'f'));
    e2.putI32(1);
    e2.putI32(0);
    XdrDecoder d2(e2.bytes());
    EXPECT_THROW(decodeTypedParams(d2, 16), XdrError);
}

TEST(Xdr, RemoteErrorLayout)
{
    RemoteError err;
    err.code = 3;
    err.domain = 20;
    err.message = "m";
    err.str1 = "m";
    XdrEncoder e;
    encodeRemoteError(e, err);
    EXPECT_EQ(e.bytes(), hex("00000003" "00000014" "00000001" "000000016d000000" "00000002"
                             "00000000" "00000001" "000000016d000000" "00000000" "00000000"
                             "ffffffff" "ffffffff" "00000000"));
    XdrDecoder d(e.bytes());
    EXPECT_EQ(decodeRemoteError(d), err);
    d.expectEnd();
}
