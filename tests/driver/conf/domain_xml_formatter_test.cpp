#include <gtest/gtest.h>

#include <regex>

#include "DomainXmlFormatter.h"
#include "TestXml.h"

using namespace mica::conf;
using mica::conf::test::domainXml;

namespace {

bool contains(const std::string& s, const std::string& what)
{
    return s.find(what) != std::string::npos;
}

}  // namespace

TEST(DomainXmlFormatter, LiveShowsIdAndPtyPathsInactiveDoesNot)
{
    auto def = parseDomainXml(domainXml("<serial type='pty'/><vsock model='virtio'><cid auto='yes'/></vsock>"));
    def.id = 12;
    def.serial->source.path = "/dev/pts/9";
    def.vsock->cid = 45;
    std::string live = formatDomainXml(def, 0);
    EXPECT_TRUE(contains(live, "<domain type=\"kvm\" id=\"12\">")) << live;
    EXPECT_TRUE(contains(live, "<source path=\"/dev/pts/9\"/>")) << live;
    EXPECT_TRUE(contains(live, "<cid auto=\"yes\" address=\"45\"/>")) << live;
    std::string inactive = formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE);
    EXPECT_FALSE(contains(inactive, "id=\"12\"")) << inactive;
    EXPECT_FALSE(contains(inactive, "/dev/pts/9")) << inactive;
    EXPECT_TRUE(contains(inactive, "<cid auto=\"yes\"/>")) << inactive;
    // A defined but inactive domain (id -1) has no live parts even without the flag.
    def.id = -1;
    EXPECT_EQ(formatDomainXml(def, 0), inactive);
    // Nothing is secret yet: --security-info changes nothing.
    EXPECT_EQ(formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE), inactive);
    // The live XML parses back (status XML) with its live parts.
    def.id = 12;
    auto back = parseDomainXml(live);
    EXPECT_EQ(back.id, 12);
    EXPECT_EQ(back.serial->source.path, "/dev/pts/9");
    EXPECT_EQ(formatDomainXml(back, 0), live);
}

TEST(DomainXmlFormatter, DefaultsAreFilledIn)
{
    auto def = parseDomainXml(domainXml("<interface type='ethernet'/><disk type='file'><source file='/a'/>"
                                        "<target dev='vda'/></disk><serial type='pty'/>"));
    std::string xml = formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE);
    EXPECT_TRUE(std::regex_search(xml, std::regex("<mac address=\"52:54:00:[0-9a-f:]{8}\"/>"))) << xml;
    EXPECT_TRUE(contains(xml, "slot=\"0x01\"")) << xml;  // the disk first
    EXPECT_TRUE(contains(xml, "slot=\"0x02\"")) << xml;  // then the interface
    EXPECT_TRUE(contains(xml, "<target type=\"serial\" port=\"0\"/>")) << xml;  // the serial console
    EXPECT_TRUE(contains(xml, "<controller type=\"pci\" index=\"0\" model=\"pcie-root\"/>")) << xml;
    EXPECT_TRUE(contains(xml, "<memballoon model=\"none\"/>")) << xml;
    EXPECT_TRUE(contains(xml, "<acpi/>")) << xml;
    EXPECT_TRUE(contains(xml, "<on_reboot>restart</on_reboot>")) << xml;
    // The generated MAC survives a round trip.
    EXPECT_EQ(formatDomainXml(parseDomainXml(xml), VIR_DOMAIN_XML_INACTIVE), xml);
}

TEST(DomainXmlFormatter, TextIsEscapedAndRoundTrips)
{
    std::string xml = std::regex_replace(domainXml(), std::regex("<kernel>/k</kernel>"),
                                         "<kernel>/k</kernel><cmdline>a=\"b\" &amp; c='d' &lt;e&gt;</cmdline>");
    xml = std::regex_replace(xml, std::regex("  <memory"), "<title>T &amp; U</title><description>d\n&lt;x/&gt;</description><memory");
    auto def = parseDomainXml(xml);
    EXPECT_EQ(def.os.cmdline, "a=\"b\" & c='d' <e>");
    EXPECT_EQ(def.title, "T & U");
    std::string out = formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE);
    auto again = parseDomainXml(out);
    EXPECT_EQ(again.os.cmdline, def.os.cmdline);
    EXPECT_EQ(again.description, "d\n<x/>");
    EXPECT_EQ(formatDomainXml(again, VIR_DOMAIN_XML_INACTIVE), out);
}

TEST(DomainXmlFormatter, MetadataKeepsItsNamespace)
{
    std::string xml = std::regex_replace(domainXml(), std::regex("<domain type='kvm'>"),
                                         "<domain type='kvm' xmlns:my='urn:my'>");
    xml = std::regex_replace(xml, std::regex("  <memory"),
                             "<metadata><my:app v='1'><my:x>y</my:x></my:app><b:o xmlns:b='urn:b'/></metadata><memory");
    std::string out = formatDomainXml(parseDomainXml(xml), VIR_DOMAIN_XML_INACTIVE);
    EXPECT_TRUE(contains(out, "<my:app xmlns:my=\"urn:my\" v=\"1\">")) << out;
    EXPECT_TRUE(contains(out, "<my:x>y</my:x>")) << out;
    EXPECT_TRUE(contains(out, "<b:o xmlns:b=\"urn:b\"/>")) << out;
    EXPECT_EQ(formatDomainXml(parseDomainXml(out), VIR_DOMAIN_XML_INACTIVE), out);
}

TEST(DomainXmlFormatter, LiveXmlShowsTheBackingChainsAsLibvirtDoes)
{
    auto def = parseDomainXml(domainXml(
        "<disk type='file'><driver name='qemu' type='qcow2'/><source file='/img/top.qcow2'/><target dev='vda'/></disk>"
        "<disk type='block'><source dev='/dev/sdz'/><target dev='vdb'/></disk>"));
    def.id = 3;
    def.disks[0].backingChain = {{BackingStoreDef::Type::File, DiskFormat::Qcow2, "/img/mid.qcow2"},
                                 {BackingStoreDef::Type::Block, DiskFormat::Raw, "/dev/base"}};
    def.disks[1].backingChain.emplace();
    std::string live = formatDomainXml(def, 0);
    // Nested links between <source> and <target>, the last an empty <backingStore/>; an
    // index on every image, numbered on across the disks.
    EXPECT_TRUE(contains(live, R"(      <driver name="qemu" type="qcow2"/>
      <source file="/img/top.qcow2" index="1"/>
      <backingStore type="file" index="2">
        <format type="qcow2"/>
        <source file="/img/mid.qcow2"/>
        <backingStore type="block" index="3">
          <format type="raw"/>
          <source dev="/dev/base"/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <target dev="vda" bus="virtio"/>)")) << live;
    EXPECT_TRUE(contains(live, R"(      <source dev="/dev/sdz" index="4"/>
      <backingStore/>
      <target dev="vdb" bus="virtio"/>)")) << live;
    // The chain is what the images said when the domain started: never input, never in
    // the inactive XML.
    std::string inactive = formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE);
    EXPECT_FALSE(contains(inactive, "backingStore")) << inactive;
    EXPECT_TRUE(contains(inactive, "<source file=\"/img/top.qcow2\"/>")) << inactive;
    EXPECT_TRUE(contains(inactive, "<source dev=\"/dev/sdz\"/>")) << inactive;
    // A running domain whose chains were not read (a status file from before) shows none.
    def.disks[0].backingChain.reset();
    def.disks[1].backingChain.reset();
    EXPECT_FALSE(contains(formatDomainXml(def, 0), "backingStore"));
}
