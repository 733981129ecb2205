// The remote program's procedures, driven through the Dispatcher exactly as the
// server does it: the argument bytes clients send (from rpc-traces/) in, reply bytes out.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <filesystem>
#include <fstream>

#include "ProcedureTable.h"
#include "RemoteProgram.h"
#include "RpcError.h"
#include "TestClient.h"

using namespace mica::rpc;
using namespace mica::rpc::test;
using namespace mica::driver;

namespace {

class FakeHost {
public:
    FakeHost()
    {
        root_ = std::filesystem::temp_directory_path() /
                ("mica-host-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::filesystem::create_directories(root_ / "proc");
        std::filesystem::create_directories(root_ / "sys/devices/system/cpu/cpu0/topology");
        std::filesystem::create_directories(root_ / "sys/devices/system/cpu/cpu1/topology");
        std::filesystem::create_directories(root_ / "sys/devices/system/node/node0");
        write("proc/meminfo", "MemTotal:        8000000 kB\nMemFree:         1000 kB\n"
                              "Buffers:           20 kB\nCached:            30 kB\n");
        write("proc/cpuinfo", "processor\t: 0\ncpu MHz\t\t: 2596.123\n");
        write("proc/stat", "cpu  100 1 50 1000 7 0 0\ncpu0 60 1 25 500 3\ncpu1 40 0 25 500 4\n");
        write("sys/devices/system/cpu/online", "0-1\n");
        write("sys/devices/system/cpu/cpu0/topology/physical_package_id", "0\n");
        write("sys/devices/system/cpu/cpu1/topology/physical_package_id", "0\n");
        write("sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "0\n");
    }
    ~FakeHost() { std::filesystem::remove_all(root_); }
    void addDmi()
    {
        std::filesystem::create_directories(root_ / "sys/class/dmi/id");
        write("sys/class/dmi/id/bios_vendor", "SeaBIOS\n");
        write("sys/class/dmi/id/bios_date", "04/01/2014\n");
        write("sys/class/dmi/id/sys_vendor", "QEMU & <Co>\n");
        write("sys/class/dmi/id/product_name", "Standard PC (Q35 + ICH9, 2009)\n");
    }
    HostInfo info() const { return HostInfo((root_ / "proc").string(), (root_ / "sys").string()); }

private:
    void write(const std::string& rel, const std::string& text)
    {
        std::ofstream(root_ / rel) << text;
    }
    std::filesystem::path root_;
    static inline int counter_ = 0;
};

class RemoteProgramTest : public ::testing::Test {
protected:
    RemoteProgramTest() : host_(fake_.info()), ctx_{DaemonMode::System, domains_, host_, {}}
    {
        registerRemoteProgram(dispatcher_, ctx_);
    }
    void open(const char* uri = "mica:///system", std::uint32_t flags = 0)
    {
        XdrEncoder e;
        e.putOptionalString(std::string(uri));
        e.putU32(flags);
        auto r = call(dispatcher_, session_, kProcConnectOpen, e.bytes());
        ASSERT_EQ(r.status, MessageStatus::Ok);
    }
    static std::vector<std::uint8_t> i32(std::int32_t v)
    {
        XdrEncoder e;
        e.putI32(v);
        return e.take();
    }

    FakeHost fake_;
    HostInfo host_;
    EmptyDomainTable domains_;
    RemoteProgramContext ctx_;
    Dispatcher dispatcher_;
    Session session_;
};

}  // namespace

TEST_F(RemoteProgramTest, AuthListAnswersNoneBeforeOpen)
{
    auto r = call(dispatcher_, session_, kProcAuthList);
    EXPECT_EQ(r.status, MessageStatus::Ok);
    EXPECT_EQ(r.payload, hex("0000000100000000"));
}

TEST_F(RemoteProgramTest, SupportsFeatureIsTruthful)
{
    auto ask = [&](std::int32_t f) {
        auto r = call(dispatcher_, session_, kProcConnectSupportsFeature, i32(f));
        EXPECT_EQ(r.status, MessageStatus::Ok);
        XdrDecoder d(r.payload);
        return d.getI32();
    };
    EXPECT_FALSE(session_.keepaliveRequested);
    EXPECT_EQ(ask(kFeatureProgramKeepalive), 1);
    EXPECT_TRUE(session_.keepaliveRequested);
    EXPECT_EQ(ask(kFeatureTypedParamString), 1);
    EXPECT_EQ(ask(kFeatureRemoteEventCallback), 1);
    EXPECT_EQ(ask(kFeatureRemoteCloseCallback), 1);
    EXPECT_EQ(ask(kFeatureFdPassing), 0);   // not implemented
    EXPECT_EQ(ask(kFeatureRemote), 0);
    EXPECT_EQ(ask(4), 0);                   // P2P migration
    EXPECT_EQ(ask(12345), 0);
}

TEST_F(RemoteProgramTest, CallsBeforeOpenAreRefused)
{
    auto err = errorOf(call(dispatcher_, session_, kProcConnectGetType));
    EXPECT_EQ(err.code, VIR_ERR_INTERNAL_ERROR);
    EXPECT_EQ(err.domain, VIR_FROM_RPC);
}

TEST_F(RemoteProgramTest, OpenAcceptsOurUrisOnly)
{
    EXPECT_EQ(canonicalConnectUri(std::nullopt, DaemonMode::System), "mica:///system");
    EXPECT_EQ(canonicalConnectUri(std::string(""), DaemonMode::Session), "mica:///session");
    EXPECT_EQ(canonicalConnectUri(std::string("mica:///system"), DaemonMode::System), "mica:///system");
    EXPECT_EQ(canonicalConnectUri(std::string("MICA:///system/?x=1"), DaemonMode::System), "mica:///system");
    EXPECT_EQ(canonicalConnectUri(std::string("mica://localhost/system"), DaemonMode::System), "mica:///system");
    try {
        canonicalConnectUri(std::string("qemu:///system"), DaemonMode::System);
        FAIL();
    } catch (const RpcError& e) {
        EXPECT_EQ(e.error().code, VIR_ERR_NO_CONNECT);
        EXPECT_NE(e.error().message->find("qemu:///system"), std::string::npos);
    }
    EXPECT_THROW(canonicalConnectUri(std::string("mica:///session"), DaemonMode::System), RpcError);
    EXPECT_THROW(canonicalConnectUri(std::string("mica://otherhost/system"), DaemonMode::System), RpcError);
    EXPECT_THROW(canonicalConnectUri(std::string("mica:system"), DaemonMode::System), RpcError);

    // The exact CONNECT_OPEN bytes of the virsh trace, with our URI.
    XdrEncoder e;
    e.putOptionalString(std::string("test:///default"));
    e.putU32(0);
    EXPECT_EQ(e.bytes(), hex("000000010000000f746573743a2f2f2f64656661756c740000000000"));
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectOpen, e.bytes())).code, VIR_ERR_NO_CONNECT);
    EXPECT_FALSE(session_.open);
    open();
    EXPECT_TRUE(session_.open);
    EXPECT_FALSE(session_.readOnly);
    // A second open is refused; the first stays open.
    XdrEncoder again;
    again.putOptionalString(std::string("mica:///system"));
    again.putU32(0);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectOpen, again.bytes())).code, VIR_ERR_INTERNAL_ERROR);
    EXPECT_TRUE(session_.open);
}

TEST_F(RemoteProgramTest, ConnectionFacts)
{
    open();
    auto str = [&](std::int32_t proc) {
        auto r = call(dispatcher_, session_, proc);
        EXPECT_EQ(r.status, MessageStatus::Ok);
        XdrDecoder d(r.payload);
        auto s = d.getString(1000);
        d.expectEnd();
        return s;
    };
    auto u64 = [&](std::int32_t proc) {
        auto r = call(dispatcher_, session_, proc);
        XdrDecoder d(r.payload);
        return d.getU64();
    };
    EXPECT_EQ(str(kProcConnectGetType), "MICA");
    EXPECT_EQ(str(kProcConnectGetUri), "mica:///system");
    EXPECT_FALSE(str(kProcConnectGetHostname).empty());
    EXPECT_EQ(u64(kProcConnectGetLibVersion), static_cast<std::uint64_t>(LIBVIR_VERSION_NUMBER));
    EXPECT_GT(u64(kProcConnectGetVersion), 0u);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectIsSecure).payload, hex("00000001"));
    XdrEncoder nullType;
    nullType.putOptionalString(std::nullopt);
    ctx_.caps.maxVcpus = [] { return 240u; };  // what capabilities/ computes (domcaps vcpu max)
    auto mv = call(dispatcher_, session_, kProcConnectGetMaxVcpus, nullType.bytes());
    ASSERT_EQ(mv.status, MessageStatus::Ok);
    XdrDecoder d(mv.payload);
    EXPECT_EQ(d.getI32(), 240);
}

TEST_F(RemoteProgramTest, NodeInfoLayout)
{
    open();
    auto r = call(dispatcher_, session_, kProcNodeGetInfo);
    ASSERT_EQ(r.status, MessageStatus::Ok);
    ASSERT_EQ(r.payload.size(), 160u);   // char[32] as 32 words + u64 + 6 ints
    XdrDecoder d(r.payload);
    for (int i = 0; i < 32; ++i)
        d.getI32();
    EXPECT_EQ(d.getU64(), 8000000u);   // KiB
    EXPECT_EQ(d.getI32(), 2);          // cpus
    EXPECT_EQ(d.getI32(), 2596);       // MHz
    EXPECT_EQ(d.getI32(), 1);          // nodes
    EXPECT_EQ(d.getI32(), 1);          // sockets
    EXPECT_EQ(d.getI32(), 2);          // cores
    EXPECT_EQ(d.getI32(), 1);          // threads
}

TEST_F(RemoteProgramTest, NodeStatsAskForCountFirst)
{
    open();
    XdrEncoder count;
    count.putI32(0);    // nparams
    count.putI32(-1);   // all cells
    count.putU32(0);
    auto r = call(dispatcher_, session_, kProcNodeGetMemoryStats, count.bytes());
    ASSERT_EQ(r.status, MessageStatus::Ok);
    EXPECT_EQ(r.payload, hex("0000000000000004"));
    XdrEncoder full;
    full.putI32(4);
    full.putI32(-1);
    full.putU32(0);
    r = call(dispatcher_, session_, kProcNodeGetMemoryStats, full.bytes());
    XdrDecoder d(r.payload);
    ASSERT_EQ(d.getU32(), 4u);
    EXPECT_EQ(d.getString(80), "total");
    EXPECT_EQ(d.getU64(), 8000000u);
    EXPECT_EQ(d.getString(80), "free");
    EXPECT_EQ(d.getU64(), 1000u);

    XdrEncoder cpu;
    cpu.putI32(1);      // cpu1
    cpu.putI32(4);
    cpu.putU32(0);
    r = call(dispatcher_, session_, kProcNodeGetCpuStats, cpu.bytes());
    ASSERT_EQ(r.status, MessageStatus::Ok);
    XdrDecoder c(r.payload);
    ASSERT_EQ(c.getU32(), 4u);
    EXPECT_EQ(c.getString(80), "kernel");
    EXPECT_GT(c.getU64(), 0u);

    XdrEncoder badCpu;
    badCpu.putI32(64);
    badCpu.putI32(4);
    badCpu.putU32(0);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcNodeGetCpuStats, badCpu.bytes())).code, VIR_ERR_INVALID_ARG);
    XdrEncoder badFlags;
    badFlags.putI32(0);
    badFlags.putI32(-1);
    badFlags.putU32(1);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcNodeGetMemoryStats, badFlags.bytes())).code, VIR_ERR_INVALID_ARG);
}

TEST_F(RemoteProgramTest, EmptyDomainListings)
{
    open();
    // virsh list --all: need_results=1, flags=3 (trace).
    auto r = call(dispatcher_, session_, kProcConnectListAllDomains, hex("0000000100000003"));
    ASSERT_EQ(r.status, MessageStatus::Ok);
    EXPECT_EQ(r.payload, hex("0000000000000000"));
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectNumOfDomains).payload, hex("00000000"));
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectNumOfDefinedDomains).payload, hex("00000000"));
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectListDomains, i32(10)).payload, hex("00000000"));
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectListDefinedDomains, i32(10)).payload, hex("00000000"));
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectListDomains, i32(-1))).code, VIR_ERR_RPC);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectListDomains, i32(1 << 20))).code, VIR_ERR_RPC);
}

TEST_F(RemoteProgramTest, UnimplementedProceduresSayNoSupportByName)
{
    open();
    auto err = errorOf(call(dispatcher_, session_, 281));   // CONNECT_LIST_ALL_STORAGE_POOLS
    EXPECT_EQ(err.code, VIR_ERR_NO_SUPPORT);
    EXPECT_EQ(err.domain, VIR_FROM_STORAGE);
    EXPECT_NE(err.message->find("virConnectListAllStoragePools"), std::string::npos);
    err = errorOf(call(dispatcher_, session_, 14));   // DOMAIN_GET_XML_DESC
    EXPECT_NE(err.message->find("virDomainGetXMLDesc"), std::string::npos);
    // Capabilities hooks are empty until capabilities/ is wired in.
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectGetCapabilities)).code, VIR_ERR_NO_SUPPORT);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectGetDomainCapabilities,
                           hex("0000000000000000000000000000000000000000"))).code,
              VIR_ERR_NO_SUPPORT);
    XdrEncoder flags;
    flags.putU32(0);
    err = errorOf(call(dispatcher_, session_, kProcConnectGetSysinfo, flags.bytes()));   // no DMI in the fake
    EXPECT_EQ(err.code, VIR_ERR_NO_SUPPORT);
    EXPECT_NE(err.message->find("SMBIOS"), std::string::npos);
}

TEST_F(RemoteProgramTest, CapabilitiesHooksReceiveTheQuery)
{
    DomainCapsQuery seen;
    ctx_.caps.hostXml = [] { return std::string("<capabilities/>"); };
    ctx_.caps.domainXml = [&](const DomainCapsQuery& q) {
        seen = q;
        return std::string("<domainCapabilities/>");
    };
    open();
    auto r = call(dispatcher_, session_, kProcConnectGetCapabilities);
    ASSERT_EQ(r.status, MessageStatus::Ok);
    XdrEncoder q;
    q.putOptionalString(std::nullopt);
    q.putOptionalString(std::string("x86_64"));
    q.putOptionalString(std::nullopt);
    q.putOptionalString(std::string("kvm"));
    q.putU32(0);
    r = call(dispatcher_, session_, kProcConnectGetDomainCapabilities, q.bytes());
    ASSERT_EQ(r.status, MessageStatus::Ok);
    XdrDecoder d(r.payload);
    EXPECT_EQ(d.getString(100), "<domainCapabilities/>");
    EXPECT_EQ(seen.arch, "x86_64");
    EXPECT_EQ(seen.virttype, "kvm");
    EXPECT_FALSE(seen.emulatorbin);
}

TEST_F(RemoteProgramTest, ReadOnlyConnectionsCannotWrite)
{
    session_.readOnlySocket = true;
    open();
    EXPECT_TRUE(session_.readOnly);
    XdrEncoder xml;
    xml.putString("<domain/>");
    auto err = errorOf(call(dispatcher_, session_, 11, xml.bytes()));   // DOMAIN_DEFINE_XML
    EXPECT_EQ(err.code, VIR_ERR_OPERATION_DENIED);
    EXPECT_NE(err.message->find("virDomainDefineXML"), std::string::npos);
    // Reads still work.
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectListAllDomains, hex("0000000100000000")).status,
              MessageStatus::Ok);
    // A driver-registered write procedure is refused as well.
    bool ran = false;
    dispatcher_.add(kRemoteProgram, 9, {[&](CallContext&, XdrDecoder&, XdrEncoder&) { ran = true; },
                                        false});
    EXPECT_EQ(errorOf(call(dispatcher_, session_, 9)).code, VIR_ERR_OPERATION_DENIED);
    EXPECT_FALSE(ran);
}

TEST_F(RemoteProgramTest, UnknownNumbersAndEventsAreUnknownProcedures)
{
    // libvirtd: VIR_ERR_RPC "unknown procedure: N" for a number it has no server-side
    // procedure for (events included), whether or not the connection is open.
    for (int opened = 0; opened < 2; ++opened) {
        if (opened)
            open();
        for (std::int32_t proc : {9999, 0, -5, remoteProcedureMax() + 1,
                                  static_cast<std::int32_t>(kProcDomainEventLifecycle),
                                  static_cast<std::int32_t>(kProcDomainEventCallbackReboot)}) {
            auto err = errorOf(call(dispatcher_, session_, proc));
            EXPECT_EQ(err.code, VIR_ERR_RPC) << proc;
            EXPECT_EQ(err.domain, VIR_FROM_RPC) << proc;
            EXPECT_EQ(*err.message, "unknown procedure: " + std::to_string(proc));
        }
    }
}

TEST_F(RemoteProgramTest, ReadOnlyRulesComeFromTheTable)
{
    open("mica:///system", VIR_CONNECT_RO);
    // virsh -r domblkstat asks DOMAIN_BLOCK_STATS_FLAGS first and falls back to
    // DOMAIN_BLOCK_STATS only on VIR_ERR_NO_SUPPORT: an unimplemented read must say so.
    XdrEncoder stats;
    encodeDomain(stats, DomainRef{"t1", {}, -1});
    stats.putString("vda");
    stats.putI32(0);
    stats.putU32(0);
    auto err = errorOf(call(dispatcher_, session_, 243, stats.bytes()));   // DOMAIN_BLOCK_STATS_FLAGS
    EXPECT_EQ(err.code, VIR_ERR_NO_SUPPORT);
    EXPECT_EQ(err.domain, VIR_FROM_DOMAIN);
    EXPECT_EQ(*err.message, "this function is not supported by the connection driver: virDomainBlockStatsFlags");
    // An unimplemented write is refused first, as libvirt's API layer does.
    err = errorOf(call(dispatcher_, session_, 8));   // DOMAIN_ATTACH_DEVICE
    EXPECT_EQ(err.code, VIR_ERR_OPERATION_DENIED);
    EXPECT_EQ(*err.message, "operation forbidden: read only access prevents virDomainAttachDevice");
    // connect:write in libvirt's ACL, although it only reads: refused, implemented or not.
    ctx_.caps.domainXml = [](const DomainCapsQuery&) { return std::string("<domainCapabilities/>"); };
    err = errorOf(call(dispatcher_, session_, kProcConnectGetDomainCapabilities,
                       hex("0000000000000000000000000000000000000000")));
    EXPECT_EQ(err.code, VIR_ERR_OPERATION_DENIED);
    EXPECT_NE(err.message->find("virConnectGetDomainCapabilities"), std::string::npos);
    // DOMAIN_GET_XML_DESC reads, but with VIR_DOMAIN_XML_SECURE needs read_secure.
    int ran = 0;
    dispatcher_.add(kRemoteProgram, 14, {[&](CallContext&, XdrDecoder& args, XdrEncoder& ret) {
                                             decodeDomain(args);
                                             args.getU32();
                                             args.expectEnd();
                                             ++ran;
                                             ret.putString("<domain/>");
                                         }, false});
    auto xmlDesc = [](std::uint32_t flags) {
        XdrEncoder e;
        encodeDomain(e, DomainRef{"t1", {}, -1});
        e.putU32(flags);
        return e.take();
    };
    EXPECT_EQ(call(dispatcher_, session_, 14, xmlDesc(0)).status, MessageStatus::Ok);
    err = errorOf(call(dispatcher_, session_, 14, xmlDesc(VIR_DOMAIN_XML_SECURE)));
    EXPECT_EQ(err.code, VIR_ERR_OPERATION_DENIED);
    EXPECT_EQ(*err.message, "operation forbidden: read only access prevents virDomainGetXMLDesc with secure flag");
    EXPECT_EQ(ran, 1);
}

TEST_F(RemoteProgramTest, RegistrationsMustBeCallsOfTheTable)
{
    auto h = [](CallContext&, XdrDecoder&, XdrEncoder&) {};
    EXPECT_THROW(dispatcher_.add(kRemoteProgram, 9999, {h, false}), std::logic_error);
    EXPECT_THROW(dispatcher_.add(kRemoteProgram, kProcDomainEventLifecycle, {h, false}), std::logic_error);
    EXPECT_NO_THROW(dispatcher_.add(kRemoteProgram, 243, {h, false}));
}

TEST_F(RemoteProgramTest, MalformedArgumentsAreRpcErrors)
{
    open();
    auto err = errorOf(call(dispatcher_, session_, kProcConnectSupportsFeature, hex("0000")));
    EXPECT_EQ(err.code, VIR_ERR_RPC);
    EXPECT_NE(err.message->find("decode"), std::string::npos);
    err = errorOf(call(dispatcher_, session_, kProcConnectGetType, hex("00000000")));   // trailing
    EXPECT_EQ(err.code, VIR_ERR_RPC);
    Header h = callHeader(kProcConnectGetType);
    h.status = MessageStatus::Error;
    EXPECT_EQ(errorOf(dispatcher_.call(session_, h, {})).code, VIR_ERR_RPC);
    h = callHeader(1);
    h.prog = 0x12345678;
    err = errorOf(dispatcher_.call(session_, h, {}));
    EXPECT_EQ(err.code, VIR_ERR_RPC);
    EXPECT_NE(err.message->find("Cannot find program"), std::string::npos);
}

TEST_F(RemoteProgramTest, HandlerExceptionsBecomeInternalErrors)
{
    dispatcher_.add(kRemoteProgram, 9, {[](CallContext&, XdrDecoder&, XdrEncoder&) {
                                            throw std::runtime_error("boom");
                                        }, false});
    open();
    auto err = errorOf(call(dispatcher_, session_, 9));
    EXPECT_EQ(err.code, VIR_ERR_INTERNAL_ERROR);
    EXPECT_NE(err.message->find("boom"), std::string::npos);
}

TEST_F(RemoteProgramTest, EventCallbacksRegisterAndDeregister)
{
    open();
    XdrEncoder reg;
    reg.putI32(VIR_DOMAIN_EVENT_ID_LIFECYCLE);
    reg.putBool(false);   // all domains
    auto r = call(dispatcher_, session_, kProcConnectDomainEventCallbackRegisterAny, reg.bytes());
    ASSERT_EQ(r.status, MessageStatus::Ok);
    EXPECT_EQ(r.payload, hex("00000000"));
    r = call(dispatcher_, session_, kProcConnectDomainEventCallbackRegisterAny, reg.bytes());
    EXPECT_EQ(r.payload, hex("00000001"));
    EXPECT_EQ(session_.domainEvents.size(), 2u);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectDomainEventCallbackDeregisterAny, i32(0)).status,
              MessageStatus::Ok);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectDomainEventCallbackDeregisterAny, i32(0))).code,
              VIR_ERR_INVALID_ARG);
    XdrEncoder bad;
    bad.putI32(1000);
    bad.putBool(false);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectDomainEventCallbackRegisterAny, bad.bytes())).code,
              VIR_ERR_INVALID_ARG);
    // Legacy style.
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectDomainEventRegisterAny, i32(0)).status, MessageStatus::Ok);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectDomainEventRegisterAny, i32(0)).status, MessageStatus::Error);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectDomainEventDeregisterAny, i32(0)).status, MessageStatus::Ok);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectDomainEventDeregisterAny, i32(0)).status, MessageStatus::Error);
}

TEST_F(RemoteProgramTest, CloseMarksTheSession)
{
    open();
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectRegisterCloseCallback).status, MessageStatus::Ok);
    EXPECT_TRUE(session_.closeCallback);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectUnregisterCloseCallback).status, MessageStatus::Ok);
    EXPECT_EQ(call(dispatcher_, session_, kProcConnectClose).status, MessageStatus::Ok);
    EXPECT_TRUE(session_.closeRequested);
    EXPECT_FALSE(session_.open);
}

TEST_F(RemoteProgramTest, DeferringNeedsASender)
{
    dispatcher_.add(kRemoteProgram, 9, {[](CallContext& ctx, XdrDecoder&, XdrEncoder&) { ctx.defer(); },
                                        false});
    open();
    EXPECT_EQ(errorOf(call(dispatcher_, session_, 9)).code, VIR_ERR_INTERNAL_ERROR);
}

TEST_F(RemoteProgramTest, HandlerThrowingAfterDeferAnswersExactlyOnce)
{
    std::shared_ptr<DeferredReply> kept;
    dispatcher_.add(kRemoteProgram, 9, {[&](CallContext& ctx, XdrDecoder&, XdrEncoder&) {
                                            kept = ctx.defer();
                                            throw RpcError(VIR_ERR_OPERATION_INVALID, VIR_FROM_DOMAIN, "not now");
                                        }, false});
    open();
    std::vector<std::vector<std::uint8_t>> sent;
    Header h = callHeader(9, 33);
    auto body = dispatcher_.call(session_, h, {}, [&](std::vector<std::uint8_t> p) { sent.push_back(std::move(p)); });
    EXPECT_TRUE(body.deferred);
    kept->succeed({});   // too late: the error already answered
    kept.reset();        // and dropping it adds nothing
    ASSERT_EQ(sent.size(), 1u);
    PacketReader r;
    r.append(sent[0]);
    auto p = r.next();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->header.serial, 33u);
    EXPECT_EQ(p->header.status, MessageStatus::Error);
    XdrDecoder d(p->payload);
    EXPECT_EQ(decodeRemoteError(d).code, VIR_ERR_OPERATION_INVALID);
}

TEST_F(RemoteProgramTest, CpuMapAndSecurityModel)
{
    open();
    XdrEncoder args;
    args.putI32(1);
    args.putI32(1);
    args.putU32(0);
    auto r = call(dispatcher_, session_, kProcNodeGetCpuMap, args.bytes());
    ASSERT_EQ(r.status, MessageStatus::Ok);
    EXPECT_EQ(r.payload, hex("00000001" "03000000" "00000002" "00000002"));   // CPUs 0,1 online
    XdrEncoder countOnly;
    countOnly.putI32(0);
    countOnly.putI32(0);
    countOnly.putU32(0);
    EXPECT_EQ(call(dispatcher_, session_, kProcNodeGetCpuMap, countOnly.bytes()).payload,
              hex("00000000" "00000000" "00000002"));
    EXPECT_EQ(call(dispatcher_, session_, kProcNodeGetSecurityModel).payload,
              hex("00000001" "00000000" "00000001" "00000000"));
}

TEST_F(RemoteProgramTest, OpenFlagReadOnlyOnTheReadWriteSocket)
{
    open("mica:///system", VIR_CONNECT_RO);
    EXPECT_TRUE(session_.readOnly);
    XdrEncoder xml;
    xml.putString("<domain/>");
    EXPECT_EQ(errorOf(call(dispatcher_, session_, 11, xml.bytes())).code, VIR_ERR_OPERATION_DENIED);
    EXPECT_EQ(call(dispatcher_, session_, kProcNodeGetInfo).status, MessageStatus::Ok);
}

TEST_F(RemoteProgramTest, SysinfoFromDmi)
{
    fake_.addDmi();
    open();
    XdrEncoder flags;
    flags.putU32(0);
    auto r = call(dispatcher_, session_, kProcConnectGetSysinfo, flags.bytes());
    ASSERT_EQ(r.status, MessageStatus::Ok);
    XdrDecoder d(r.payload);
    EXPECT_EQ(d.getString(100000),
              "<sysinfo type='smbios'>\n"
              "  <bios>\n"
              "    <entry name='vendor'>SeaBIOS</entry>\n"
              "    <entry name='date'>04/01/2014</entry>\n"
              "  </bios>\n"
              "  <system>\n"
              "    <entry name='manufacturer'>QEMU &amp; &lt;Co&gt;</entry>\n"
              "    <entry name='product'>Standard PC (Q35 + ICH9, 2009)</entry>\n"
              "  </system>\n"
              "</sysinfo>\n");
    XdrEncoder badFlags;
    badFlags.putU32(1);
    EXPECT_EQ(errorOf(call(dispatcher_, session_, kProcConnectGetSysinfo, badFlags.bytes())).code, VIR_ERR_INVALID_ARG);
}
