#include <gtest/gtest.h>

#include "TestXml.h"
#include "VmConfigTranslator.h"

using namespace mica::conf;
using mica::conf::test::domainXml;

TEST(VmConfigTranslator, SectionsAbsentOrOff)
{
    auto t = toVmConfig(parseDomainXml(domainXml()), RuntimePaths{});
    EXPECT_EQ(t.config["serial"]["mode"], "off");
    EXPECT_TRUE(t.config["serial"]["path"].is_null());
    EXPECT_EQ(t.config["console"]["mode"], "off");
    EXPECT_FALSE(t.config.contains("rng"));
    EXPECT_FALSE(t.config.contains("vsock"));
    EXPECT_FALSE(t.config.contains("balloon"));
    EXPECT_FALSE(t.config["payload"].contains("initramfs"));
    EXPECT_EQ(t.config["cpus"]["topology"]["cores_per_socket"], 1);
    EXPECT_TRUE(t.hostActions.empty());
}

TEST(VmConfigTranslator, MemoryIsWholeMiBAndBalloonInflatesTheDifference)
{
    auto def = parseDomainXml(domainXml("<memballoon model='virtio'/>", "",
                                        ""));
    def.memoryKiB = 262145;  // 256 MiB + 1 KiB
    def.currentMemoryKiB = 131072;
    auto t = toVmConfig(def, RuntimePaths{});
    EXPECT_EQ(t.config["memory"]["size"], 257ull << 20);
    EXPECT_EQ(t.config["balloon"]["size"], (257ull << 20) - (128ull << 20));
}

TEST(VmConfigTranslator, TapNamesAndHostActions)
{
    auto def = parseDomainXml(domainXml("<interface type='ethernet'><mtu size='1400'/></interface>"
                                        "<interface type='bridge'><source bridge='br9'/><target dev='mytap'/></interface>"));
    auto t = toVmConfig(def, RuntimePaths{});
    ASSERT_EQ(t.hostActions.size(), 2u);
    EXPECT_EQ(t.hostActions[0].tap, "vm11111111n0");
    EXPECT_LE(t.hostActions[0].tap.size(), 15u);
    EXPECT_TRUE(t.hostActions[0].bridge.empty());
    EXPECT_EQ(t.hostActions[0].mtu, std::optional<unsigned>(1400));
    EXPECT_EQ(t.hostActions[1].tap, "mytap");
    EXPECT_EQ(t.hostActions[1].bridge, "br9");
    EXPECT_EQ(t.config["net"][0]["tap"], "vm11111111n0");
    EXPECT_EQ(t.config["net"][1]["id"], "net1");
    EXPECT_EQ(t.config["net"][0]["mac"], def.nets[0].mac);
    EXPECT_EQ(t.hostActions[1].toJson().dump(), R"({"action":"create_tap","tap":"mytap","bridge":"br9"})");
}

TEST(VmConfigTranslator, VsockCidAndSocketComeFromRuntimeInputs)
{
    auto def = parseDomainXml(domainXml("<vsock model='virtio'><cid auto='yes'/></vsock>"));
    RuntimePaths paths;
    paths.stateDir = "/tmp/state";
    paths.autoVsockCid = 99;
    auto t = toVmConfig(def, paths);
    EXPECT_EQ(t.config["vsock"]["cid"], 99);
    EXPECT_EQ(t.config["vsock"]["socket"], "/tmp/state/t/vmm/vsock.sock");
    def.vsock->cid = 17;  // allocated earlier (a running domain's live definition)
    EXPECT_EQ(toVmConfig(def, paths).config["vsock"]["cid"], 17);
    def = parseDomainXml(domainXml("<vsock model='virtio'><cid auto='no' address='5'/></vsock>"));
    EXPECT_EQ(toVmConfig(def, paths).config["vsock"]["cid"], 5);
}

TEST(VmConfigTranslator, DisksAndCharBackends)
{
    auto def = parseDomainXml(domainXml(
        "<disk type='file'><driver name='qemu' type='raw' cache='none' discard='unmap' queues='3'/>"
        "<source file='/a'/><target dev='vda'/><readonly/><serial>S1</serial></disk>"
        "<serial type='unix'><source mode='bind' path='/s.sock'/></serial>"
        "<console type='file'><source path='/hvc.log'/><target type='virtio'/></console>"));
    auto t = toVmConfig(def, RuntimePaths{});
    auto d = t.config["disks"][0];
    EXPECT_EQ(d["direct"], true);
    EXPECT_EQ(d["discard"], true);
    EXPECT_EQ(d["num_queues"], 3);
    EXPECT_EQ(d["readonly"], true);
    EXPECT_EQ(d["serial"], "S1");
    EXPECT_EQ(t.config["serial"]["mode"], "socket");
    EXPECT_EQ(t.config["serial"]["path"], "/s.sock");
    EXPECT_EQ(t.config["console"]["mode"], "file");
    EXPECT_EQ(t.config["console"]["path"], "/hvc.log");
}

TEST(VmConfigTranslator, ImageTypeIsTheDisksFormatInMicaVmmsNames)
{
    auto def = parseDomainXml(domainXml(
        "<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
        "<disk type='file'><driver name='qemu' type='qcow2'/><source file='/b'/><target dev='vdb'/></disk>"
        "<disk type='file'><driver name='qemu' type='vpc'/><source file='/c'/><target dev='vdc'/></disk>"));
    auto disks = toVmConfig(def, RuntimePaths{}).config["disks"];
    EXPECT_EQ(disks[0]["image_type"], "raw");
    EXPECT_EQ(disks[1]["image_type"], "qcow2");
    EXPECT_EQ(disks[2]["image_type"], "vhd");   // libvirt's vpc
}
