// One device element on its own (conf/DeviceXml.h) and the aliases every PCI device
// gets: what attach and detach rely on.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "DeviceXml.h"
#include "DomainXmlFormatter.h"
#include "TestXml.h"
#include "VmConfigTranslator.h"

using namespace mica::conf;
using mica::conf::test::domainXml;
using mica::conf::test::parseError;

namespace {

const char* kDevices =
    "<disk type='file' device='disk'><source file='/img/a.raw'/><target dev='vda' bus='virtio'/></disk>\n"
    "<interface type='ethernet'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>\n"
    "<interface type='ethernet'><mac address='52:54:00:00:00:02'/><model type='virtio'/>"
    "<alias name='ua-uplink'/></interface>\n"
    "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n";

DomainDef domain()
{
    return parseDomainXml(domainXml(kDevices));
}

std::string deviceError(const std::string& xml, const DomainDef& def, virErrorNumber code,
                        DeviceXmlUse use = DeviceXmlUse::Attach)
{
    try {
        parseDeviceXml(xml, def, use);
    } catch (const ConfError& e) {
        EXPECT_EQ(e.code(), code) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "parsed without error:\n" << xml;
    return {};
}

}  // namespace

TEST(DeviceAliases, EveryPciDeviceHasOneAndTheVmmIdFollowsIt)
{
    DomainDef def = domain();
    EXPECT_EQ(def.disks[0].alias, "vda");
    EXPECT_EQ(def.nets[0].alias, "net0");
    EXPECT_EQ(def.nets[1].alias, "ua-uplink");
    EXPECT_EQ(def.rng->alias, "rng0");
    auto config = toVmConfig(def, RuntimePaths{}).config;
    EXPECT_EQ(config["disks"][0]["id"], "vda");
    EXPECT_EQ(config["net"][0]["id"], "net0");
    EXPECT_EQ(config["net"][1]["id"], "ua-uplink");
    EXPECT_EQ(config["rng"]["id"], "rng0");
}

TEST(DeviceAliases, LiveXmlShowsAllTheDefinitionOnlyTheUsers)
{
    DomainDef def = domain();
    std::string inactive = formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE);
    EXPECT_NE(inactive.find("<alias name=\"ua-uplink\"/>"), std::string::npos) << inactive;
    EXPECT_EQ(inactive.find("<alias name=\"net0\"/>"), std::string::npos) << inactive;
    def.id = 3;
    std::string live = formatDomainXml(def, 0);
    for (const char* a : {"vda", "net0", "ua-uplink", "rng0"})
        EXPECT_NE(live.find(std::string("<alias name=\"") + a + "\"/>"), std::string::npos) << a << "\n" << live;
    // The status XML keeps the daemon's aliases; a definition drops them.
    DomainDef status = parseDomainXml(live);
    EXPECT_EQ(status.nets[0].alias, "net0");
    def.nets[0].alias = "net7";
    DomainDef again = parseDomainXml(formatDomainXml(def, 0));
    EXPECT_EQ(again.nets[0].alias, "net7");
    def.id = -1;
    std::string defined = std::regex_replace(formatDomainXml(again, 0), std::regex(" id=\"3\""), "");
    EXPECT_EQ(parseDomainXml(defined).nets[0].alias, "net0");
}

TEST(DeviceAliases, BadOrDuplicateAliasesAreRefused)
{
    parseError(domainXml("<rng model='virtio'><backend model='random'/><alias name='a b'/></rng>"), VIR_ERR_XML_ERROR);
    parseError(domainXml("<rng model='virtio'><backend model='random'/><alias name='ua-'/></rng>"), VIR_ERR_XML_ERROR);
    std::string msg = parseError(
        domainXml("<rng model='virtio'><backend model='random'/><alias name='ua-x'/></rng>"
                  "<vsock model='virtio'><alias name='ua-x'/></vsock>"),
        VIR_ERR_XML_ERROR);
    EXPECT_NE(msg.find("non unique alias detected: ua-x"), std::string::npos) << msg;
}

TEST(DeviceXml, DiskGetsTheNextFreeSlotAndItsTargetAsAlias)
{
    DomainDef def = domain();
    DeviceDef d = parseDeviceXml("<disk type='file'><source file='/img/b.qcow2'/><driver name='qemu' type='qcow2'/>"
                                 "<target dev='vdb' bus='virtio'/></disk>",
                                 def);
    auto& disk = std::get<DiskDef>(d.device);
    EXPECT_EQ(disk.target, "vdb");
    EXPECT_EQ(disk.format, DiskFormat::Qcow2);
    EXPECT_EQ(d.alias(), "vdb");
    std::set<unsigned> used;
    for (const auto& device : pciDevices(def))
        used.insert((*device.address)->slot);
    ASSERT_TRUE(disk.address);
    EXPECT_EQ(used.count(disk.address->slot), 0u);
    unsigned lowestFree = 1;
    while (used.count(lowestFree))
        ++lowestFree;
    EXPECT_EQ(disk.address->slot, lowestFree);
    // Nothing of the domain changed.
    EXPECT_EQ(def.disks.size(), 1u);
}

TEST(DeviceXml, InterfaceGetsAMacAndANetAliasNeverReused)
{
    DomainDef def = domain();
    def.nets[0].alias = "net4";   // as after net0..net3 came and went on a running domain
    DeviceDef d = parseDeviceXml("<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>", def);
    auto& net = std::get<NetDef>(d.device);
    EXPECT_TRUE(std::regex_match(net.mac, std::regex("52:54:00(:[0-9a-f]{2}){3}"))) << net.mac;
    EXPECT_EQ(net.alias, "net5");
    // An alias that is not the user's ("ua-") is the daemon's to give, as in a definition.
    DeviceDef named = parseDeviceXml("<interface type='ethernet'><alias name='net0'/></interface>", def);
    EXPECT_EQ(named.alias(), "net5");
    addDevice(def, d);
    EXPECT_TRUE(removeDevice(def, "net5"));
    EXPECT_FALSE(removeDevice(def, "net5"));
    EXPECT_EQ(def.nets.size(), 2u);
}

TEST(DeviceXml, ClashesAreRefusedAsLibvirtDoes)
{
    DomainDef def = domain();
    std::string msg = deviceError("<disk type='file'><source file='/img/c.raw'/><target dev='vda'/></disk>", def,
                                  VIR_ERR_OPERATION_INVALID);
    EXPECT_NE(msg.find("target vda already exists"), std::string::npos) << msg;
    deviceError("<interface type='ethernet'><mac address='52:54:00:00:00:02'/></interface>", def,
                VIR_ERR_OPERATION_INVALID);
    deviceError("<vsock model='virtio'><alias name='ua-uplink'/></vsock>", def, VIR_ERR_OPERATION_INVALID);
    msg = deviceError("<rng model='virtio'><backend model='random'/></rng>", def, VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_NE(msg.find("more than one rng"), std::string::npos) << msg;
    deviceError("<console type='pty'><target type='serial'/></console>", def, VIR_ERR_CONFIG_UNSUPPORTED);
    deviceError("<memballoon model='virtio'/>", def, VIR_ERR_CONFIG_UNSUPPORTED);
    deviceError("<watchdog model='i6300esb'/>", def, VIR_ERR_CONFIG_UNSUPPORTED);
    deviceError("<disk type='file'><source file='relative'/><target dev='vdc'/></disk>", def, VIR_ERR_XML_ERROR);
    deviceError("<disk", def, VIR_ERR_XML_ERROR);
}

TEST(DeviceXml, DetachFindsByTargetMacKindOrAlias)
{
    DomainDef def = domain();
    auto detach = [&](const std::string& xml) {
        return findDevice(def, parseDeviceXml(xml, def, DeviceXmlUse::Detach));
    };
    // virsh detach-disk hands back the live element, backing chain and alias included.
    EXPECT_EQ(detach("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/a.raw' index='1'/>"
                     "<backingStore type='file'><format type='raw'/><source file='/img/base.raw'/><backingStore/>"
                     "</backingStore><target dev='vda' bus='virtio'/><alias name='vda'/></disk>"),
              "vda");
    EXPECT_EQ(detach("<interface type='ethernet'><mac address='52:54:00:00:00:02'/></interface>"), "ua-uplink");
    EXPECT_EQ(detach("<rng model='virtio'><backend model='random'>/dev/random</backend></rng>"), "rng0");
    EXPECT_EQ(deviceByAlias(def, "net0")->what(), "interface 52:54:00:00:00:01");
    EXPECT_FALSE(deviceByAlias(def, "net9"));
    std::string msg;
    try {
        detach("<disk type='file'><source file='/img/x.raw'/><target dev='vdz'/></disk>");
    } catch (const ConfError& e) {
        EXPECT_EQ(e.code(), VIR_ERR_DEVICE_MISSING);
        msg = e.what();
    }
    EXPECT_NE(msg.find("no target device vdz"), std::string::npos) << msg;
    EXPECT_THROW(detach("<interface type='ethernet'><mac address='52:54:00:00:00:09'/></interface>"), ConfError);
    EXPECT_THROW(detach("<vsock model='virtio'/>"), ConfError);
    // An alias given must be the matched device's.
    EXPECT_THROW(detach("<interface type='ethernet'><mac address='52:54:00:00:00:02'/><alias name='net0'/></interface>"),
                 ConfError);
}
