// Lifecycle event packets (byte-exact against rpc.md's wire example), registry
// filtering, and the keepalive state machine on a fake clock.
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include "DomainEvents.h"
#include "Keepalive.h"
#include "TestClient.h"

using namespace mica::rpc;
using namespace mica::rpc::test;

namespace {

DomainRef foo()
{
    DomainRef d{"foo", {}, 2};
    for (std::size_t i = 0; i < d.uuid.size(); ++i)
        d.uuid[i] = static_cast<std::uint8_t>(i);
    return d;
}

}  // namespace

TEST(DomainEvents, LifecyclePacketMatchesLibvirtd)
{
    DomainEventRegistry reg;
    ASSERT_EQ(reg.add(VIR_DOMAIN_EVENT_ID_LIFECYCLE, std::nullopt), 0);
    auto packets = lifecycleEventPackets(reg, foo(), VIR_DOMAIN_EVENT_STARTED,
                                         VIR_DOMAIN_EVENT_STARTED_BOOTED);
    ASSERT_EQ(packets.size(), 1u);
    // len, prog, vers, proc 318, MESSAGE, serial 1, OK | callbackID 0 | dom | event 2, detail 0
    EXPECT_EQ(packets[0], hex("00000044" "20008086" "00000001" "0000013e" "00000002" "00000001" "00000000"
                              "00000000"
                              "00000003666f6f00" "000102030405060708090a0b0c0d0e0f" "00000002"
                              "00000002" "00000000"));
}

TEST(DomainEvents, OnePacketPerMatchingCallbackAndFilters)
{
    DomainEventRegistry reg;
    reg.add(VIR_DOMAIN_EVENT_ID_LIFECYCLE, std::nullopt);          // 0: all domains
    reg.add(VIR_DOMAIN_EVENT_ID_REBOOT, std::nullopt);             // 1: other event
    Uuid other{};
    other[0] = 0xff;
    reg.add(VIR_DOMAIN_EVENT_ID_LIFECYCLE, other);                 // 2: other domain
    reg.add(VIR_DOMAIN_EVENT_ID_LIFECYCLE, foo().uuid);            // 3: this domain
    EXPECT_EQ(reg.matching(VIR_DOMAIN_EVENT_ID_LIFECYCLE, foo().uuid), (std::vector<std::int32_t>{0, 3}));
    EXPECT_EQ(lifecycleEventPackets(reg, foo(), 5, 1).size(), 2u);
    EXPECT_TRUE(reg.remove(0));
    EXPECT_FALSE(reg.remove(0));
    EXPECT_EQ(lifecycleEventPackets(reg, foo(), 5, 1).size(), 1u);
}

TEST(DomainEvents, LegacyRegistrationGetsTheOldProcedure)
{
    DomainEventRegistry reg;
    ASSERT_TRUE(reg.addLegacy(VIR_DOMAIN_EVENT_ID_LIFECYCLE));
    auto packets = lifecycleEventPackets(reg, foo(), 0, 0);
    ASSERT_EQ(packets.size(), 1u);
    PacketReader r;
    r.append(packets[0]);
    auto p = r.next();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->header.proc, kProcDomainEventLifecycle);
    EXPECT_EQ(p->header.type, MessageType::Message);
    XdrDecoder d(p->payload);
    EXPECT_EQ(decodeDomain(d), foo());   // no callback id in the legacy body
    EXPECT_EQ(d.getI32(), 0);
    EXPECT_EQ(d.getI32(), 0);
    d.expectEnd();
}

// remote_domain_event_callback_device_{added,removal_failed}_msg: {callbackID, dom,
// devAlias}; _device_removed_msg the same, and its legacy form (311) without callbackID.
TEST(DomainEvents, DevicePacketsByEventId)
{
    DomainEventRegistry reg;
    reg.add(VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, std::nullopt);           // 0
    reg.add(VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, std::nullopt);         // 1
    reg.add(VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, std::nullopt);  // 2
    ASSERT_TRUE(reg.addLegacy(VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED));
    auto added = deviceEventPackets(reg, foo(), VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, "net1");
    ASSERT_EQ(added.size(), 1u);
    // len, prog, vers, proc 354, MESSAGE, serial 1, OK | callbackID 0 | dom | "net1"
    EXPECT_EQ(added[0], hex("00000044" "20008086" "00000001" "00000162" "00000002" "00000001" "00000000"
                            "00000000"
                            "00000003666f6f00" "000102030405060708090a0b0c0d0e0f" "00000002"
                            "000000046e657431"));
    auto removed = deviceEventPackets(reg, foo(), VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, "vdb");
    ASSERT_EQ(removed.size(), 2u);
    std::vector<std::int32_t> procs;
    for (const auto& packet : removed) {
        PacketReader r;
        r.append(packet);
        auto p = r.next();
        ASSERT_TRUE(p);
        procs.push_back(p->header.proc);
        XdrDecoder d(p->payload);
        if (p->header.proc == kProcDomainEventCallbackDeviceRemoved) {
            EXPECT_EQ(d.getI32(), 1);
        }
        EXPECT_EQ(decodeDomain(d), foo());
        EXPECT_EQ(d.getString(64), "vdb");
        d.expectEnd();
    }
    EXPECT_EQ(procs, (std::vector<std::int32_t>{333, 311}));
    auto failed = deviceEventPackets(reg, foo(), VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, "rng0");
    ASSERT_EQ(failed.size(), 1u);
    PacketReader r;
    r.append(failed[0]);
    auto p = r.next();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->header.proc, 367);
    XdrDecoder d(p->payload);
    EXPECT_EQ(d.getI32(), 2);
    EXPECT_EQ(decodeDomain(d), foo());
    EXPECT_EQ(d.getString(64), "rng0");
    d.expectEnd();
    EXPECT_TRUE(deviceEventPackets(reg, foo(), VIR_DOMAIN_EVENT_ID_LIFECYCLE, "x").empty());
}

TEST(Keepalive, PingsAfterSilenceAndDropsAfterCount)
{
    Keepalive ka(5000, 2);
    EXPECT_EQ(ka.tick(100000), Keepalive::Action::None);   // not started
    ka.start(0);
    EXPECT_EQ(ka.tick(4999), Keepalive::Action::None);
    EXPECT_EQ(ka.tick(5000), Keepalive::Action::Ping);
    EXPECT_EQ(ka.tick(6000), Keepalive::Action::None);
    EXPECT_EQ(ka.tick(10000), Keepalive::Action::Ping);
    EXPECT_EQ(ka.tick(14999), Keepalive::Action::None);
    EXPECT_EQ(ka.tick(15000), Keepalive::Action::Drop);
}

TEST(Keepalive, AnyTrafficResets)
{
    Keepalive ka(1000, 1);
    ka.start(0);
    EXPECT_EQ(ka.tick(1000), Keepalive::Action::Ping);
    ka.onReceive(1500);
    EXPECT_EQ(ka.tick(2400), Keepalive::Action::None);
    EXPECT_EQ(ka.tick(2500), Keepalive::Action::Ping);
    EXPECT_EQ(ka.tick(3500), Keepalive::Action::Drop);
}

TEST(Keepalive, DisabledByZeroInterval)
{
    Keepalive ka(0, 5);
    ka.start(0);
    EXPECT_FALSE(ka.started());
    EXPECT_EQ(ka.tick(1000000), Keepalive::Action::None);
}
