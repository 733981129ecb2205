#include <gtest/gtest.h>

#include "ConfError.h"
#include "SnapshotXml.h"

using namespace mica::conf;

namespace {

virErrorNumber errorOf(const std::string& xml)
{
    try {
        parseSnapshotXml(xml);
    } catch (const ConfError& e) {
        return e.code();
    }
    return VIR_ERR_OK;
}

}  // namespace

TEST(SnapshotXml, ReadsWhatVirshSnapshotCreateAsWrites)
{
    auto def = parseSnapshotXml(
        "<domainsnapshot><name>s1</name><description>d &amp; e</description>"
        "<disks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/>"
        "<source file='/img/a.s1'/></disk><disk name='vdb' snapshot='no'/></disks></domainsnapshot>");
    EXPECT_EQ(def.name, "s1");
    EXPECT_EQ(def.description, "d & e");
    ASSERT_EQ(def.disks.size(), 2u);
    EXPECT_EQ(def.disks[0].file, "/img/a.s1");
    EXPECT_EQ(def.disks[1].snapshot, SnapshotDiskDef::Mode::No);
}

TEST(SnapshotXml, ReadsAMemorySnapshotsFile)
{
    // virsh --memspec file=/img/m.s1,snapshot=external, and --memspec /img/m.s1 (no mode:
    // external, as libvirt takes it).
    EXPECT_EQ(parseSnapshotXml("<domainsnapshot><memory snapshot='external' file='/img/m.s1'/></domainsnapshot>")
                  .memoryFile, "/img/m.s1");
    EXPECT_EQ(parseSnapshotXml("<domainsnapshot><memory file='/img/m.s1'/></domainsnapshot>").memoryFile, "/img/m.s1");
    EXPECT_EQ(parseSnapshotXml("<domainsnapshot><memory snapshot='no'/></domainsnapshot>").memoryFile, "");
    EXPECT_EQ(errorOf("<domainsnapshot><memory snapshot='external'/></domainsnapshot>"), VIR_ERR_XML_ERROR);
    EXPECT_EQ(errorOf("<domainsnapshot><memory file='m.s1'/></domainsnapshot>"), VIR_ERR_XML_ERROR);
    EXPECT_EQ(errorOf("<domainsnapshot><memory snapshot='no' file='/img/m'/></domainsnapshot>"), VIR_ERR_XML_ERROR);
}

TEST(SnapshotXml, RefusesWhatMicaDoesNotDoAndMalformedInput)
{
    EXPECT_EQ(errorOf("<domainsnapshot><memory snapshot='internal'/></domainsnapshot>"), VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_EQ(errorOf("<domainsnapshot><disks><disk name='vda' snapshot='internal'/></disks></domainsnapshot>"),
              VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_EQ(errorOf("<domainsnapshot><disks><disk name='vda'><driver type='raw'/></disk></disks></domainsnapshot>"),
              VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_EQ(errorOf("<domainsnapshot><disks><disk name='vda'/><disk name='vda'/></disks></domainsnapshot>"),
              VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_EQ(errorOf("<domainsnapshot><disks><disk name='vda'><source file='rel'/></disk></disks></domainsnapshot>"),
              VIR_ERR_XML_ERROR);
    EXPECT_EQ(errorOf("<domainsnapshot><name>a/b</name></domainsnapshot>"), VIR_ERR_XML_ERROR);
    EXPECT_EQ(errorOf("<domainsnapshot><name>.x</name></domainsnapshot>"), VIR_ERR_XML_ERROR);
    EXPECT_EQ(errorOf("<domainsnapshot><creationTime>1</creationTime></domainsnapshot>"), VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_EQ(errorOf("<domainsnapshot><bogus/></domainsnapshot>"), VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_EQ(errorOf("<domain/>"), VIR_ERR_XML_ERROR);
    EXPECT_EQ(errorOf("<domainsnapshot>"), VIR_ERR_XML_ERROR);
}

TEST(SnapshotXml, MetadataFormatsAndParsesBackTheSame)
{
    SnapshotDef def;
    def.name = "s2";
    def.description = "<x>";
    def.creationTime = 1795401583;
    def.parent = "s1";
    def.current = true;
    def.disks = {{"vda", SnapshotDiskDef::Mode::External, "/img/a.s2", DiskFormat::Qcow2},
                 {"vdb", SnapshotDiskDef::Mode::No, "", DiskFormat::Qcow2}};
    def.domainXml = "<domain type='kvm'><name>g</name></domain>";
    def.memoryFile = "/img/m.s2";
    def.state = "running";
    std::string text = formatSnapshotXml(def, true);
    auto again = parseSnapshotMetadata(text);
    EXPECT_EQ(formatSnapshotXml(again, true), text);
    EXPECT_TRUE(again.current);
    EXPECT_EQ(again.parent, "s1");
    EXPECT_EQ(again.creationTime, 1795401583);
    // What a client sees has no <active>.
    EXPECT_EQ(formatSnapshotXml(def).find("<active>"), std::string::npos);
    EXPECT_NE(formatSnapshotXml(def).find("<state>running</state>"), std::string::npos);
    EXPECT_NE(formatSnapshotXml(def).find("<memory snapshot=\"external\" file=\"/img/m.s2\"/>"), std::string::npos);
    EXPECT_EQ(again.memoryFile, "/img/m.s2");
}
