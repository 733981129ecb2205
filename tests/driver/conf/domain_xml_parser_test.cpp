#include <gtest/gtest.h>

#include <regex>

#include "ConfError.h"
#include "DomainXmlFormatter.h"
#include "SecLabel.h"
#include "Tuning.h"
#include "TestXml.h"

using namespace mica::conf;
using mica::conf::test::domainXml;
using mica::conf::test::parseError;

TEST(DomainXmlParser, MalformedXmlIsAnXmlErrorWithItsLine)
{
    std::string msg = parseError("<domain type='kvm'>\n<name>x</name>\n<memory>1</memry>\n</domain>", VIR_ERR_XML_ERROR);
    EXPECT_NE(msg.find("(domain_definition):3:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mismatch"), std::string::npos) << msg;
    parseError("", VIR_ERR_XML_ERROR);
    parseError("<notdomain/>", VIR_ERR_XML_ERROR);
}

TEST(DomainXmlParser, UuidIsGeneratedWhenAbsentAndCanonicalizedWhenGiven)
{
    std::string noUuid = std::regex_replace(domainXml(), std::regex("  <uuid>.*</uuid>\n"), "");
    auto a = parseDomainXml(noUuid);
    auto b = parseDomainXml(noUuid);
    EXPECT_TRUE(std::regex_match(a.uuid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << a.uuid;
    EXPECT_NE(a.uuid, b.uuid);
    std::string upper = std::regex_replace(domainXml(), std::regex("<uuid>.*</uuid>"),
                                           "<uuid>ABCDEF0123456789ABCDEF0123456789</uuid>");
    EXPECT_EQ(parseDomainXml(upper).uuid, "abcdef01-2345-6789-abcd-ef0123456789");
    parseError(std::regex_replace(domainXml(), std::regex("<uuid>.*</uuid>"), "<uuid>nope</uuid>"), VIR_ERR_XML_ERROR);
}

TEST(DomainXmlParser, MemoryUnits)
{
    auto mem = [](const std::string& m) {
        return parseDomainXml(std::regex_replace(domainXml(), std::regex("<memory unit='MiB'>256</memory>"), m));
    };
    EXPECT_EQ(mem("<memory>262144</memory>").memoryKiB, 262144u);  // KiB by default
    EXPECT_EQ(mem("<memory unit='GiB'>1</memory>").memoryKiB, 1048576u);
    EXPECT_EQ(mem("<memory unit='MB'>100</memory>").memoryKiB, 97657u);          // 1e8 bytes, rounded up
    EXPECT_EQ(mem("<memory unit='b'>268435457</memory>").memoryKiB, 262145u);    // rounded up to a KiB
    EXPECT_EQ(mem("<memory unit='GiB'>1</memory><currentMemory unit='MiB'>1024</currentMemory>").currentMemoryKiB,
              1048576u);
}

TEST(DomainXmlParser, BadMemory)
{
    auto bad = [](const std::string& m, virErrorNumber code) {
        return parseError(std::regex_replace(domainXml(), std::regex("<memory unit='MiB'>256</memory>"), m), code);
    };
    bad("<memory unit='parsec'>1</memory>", VIR_ERR_XML_ERROR);
    bad("<memory unit='EiB'>100000</memory>", VIR_ERR_XML_ERROR);
    bad("<memory unit='TiB'>99999999999</memory>", VIR_ERR_XML_ERROR);  // overflows 64 bits of bytes
    bad("<memory>-5</memory>", VIR_ERR_XML_ERROR);
    bad("<memory unit='b'>18446744073709551615</memory>", VIR_ERR_CONFIG_UNSUPPORTED);
    bad("<memory unit='TiB'>5</memory>", VIR_ERR_CONFIG_UNSUPPORTED);
    bad("<memory unit='MiB'>8</memory>", VIR_ERR_XML_ERROR);  // below mica's 16 MiB
    // mica-vmm has no knob for it, so it is refused rather than ignored.
    EXPECT_EQ(bad("<memory unit='MiB' dumpCore='off'>256</memory>", VIR_ERR_CONFIG_UNSUPPORTED),
              "memory: attribute 'dumpCore' of <memory> is not supported by mica");
    bad("<memory unit='MiB'>256</memory><currentMemory unit='MiB'>512</currentMemory>", VIR_ERR_XML_ERROR);
    std::string m = bad("<memory unit='MiB'>256</memory><currentMemory unit='MiB'>128</currentMemory>",
                        VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_NE(m.find("memballoon"), std::string::npos);
}

TEST(DomainXmlParser, Vcpus)
{
    auto d = parseDomainXml(domainXml("", "", "  <vcpu placement='static' current='3'>8</vcpu>\n"));
    EXPECT_EQ(d.vcpusMax, 8u);
    EXPECT_EQ(d.vcpusCurrent, 3u);
    parseError(domainXml("", "", "  <vcpu current='9'>8</vcpu>\n"), VIR_ERR_XML_ERROR);
    parseError(domainXml("", "", "  <vcpu>0</vcpu>\n"), VIR_ERR_XML_ERROR);
    parseError(domainXml("", "", "  <vcpu current='4294967297'>8</vcpu>\n"), VIR_ERR_XML_ERROR);  // not 1
    parseError(domainXml("", "", "  <vcpu placement='auto'>2</vcpu>\n"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "", "  <vcpu cpuset='0-1'>2</vcpu>\n"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "", "  <vcpu>300</vcpu>\n"), VIR_ERR_CONFIG_UNSUPPORTED);
}

TEST(DomainXmlParser, CpuModesAndTopology)
{
    auto d = parseDomainXml(domainXml("", "<cpu mode='maximum'><topology sockets='2' cores='1' threads='1'/></cpu>",
                                      "<vcpu>2</vcpu>"));
    EXPECT_EQ(d.cpu.mode, CpuDef::Mode::Maximum);
    EXPECT_EQ(d.cpu.sockets, 2u);
    EXPECT_EQ(parseDomainXml(domainXml("", "<cpu mode='host-passthrough'/>")).cpu.mode, CpuDef::Mode::HostPassthrough);
    // mica-vmm cannot present a named model's CPUID (domcapabilities says host-model
    // and custom supported='no'), so neither may quietly become host-passthrough.
    for (const char* cpu : {"<cpu mode='custom'><model>Skylake</model></cpu>", "<cpu mode='host-model'/>"}) {
        std::string m = parseError(domainXml("", cpu), VIR_ERR_CONFIG_UNSUPPORTED);
        EXPECT_TRUE(m.find("custom") != std::string::npos || m.find("host-model") != std::string::npos) << m;
    }
    parseError(domainXml("", "<cpu mode='host-passthrough'><feature policy='require' name='vmx'/></cpu>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "<cpu mode='host-passthrough' migratable='on'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    std::string m = parseError(
        domainXml("", "<cpu><topology sockets='1' dies='2' cores='1' threads='1'/></cpu>", "<vcpu>2</vcpu>"),
        VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_NE(m.find("die"), std::string::npos) << m;
}

TEST(DomainXmlParser, RefusalsNameWhatIsRefused)
{
    EXPECT_EQ(parseError(domainXml("<graphics type='vnc' port='-1'/>"), VIR_ERR_CONFIG_UNSUPPORTED),
              "graphics device 'vnc' is not supported by mica");
    EXPECT_EQ(parseError(domainXml("<sound model='ich9'/>"), VIR_ERR_CONFIG_UNSUPPORTED),
              "sound device 'ich9' is not supported by mica");
    EXPECT_EQ(parseError(domainXml("<watchdog model='i6300esb'/>"), VIR_ERR_CONFIG_UNSUPPORTED),
              "watchdog devices are not supported by mica yet");
    EXPECT_EQ(parseError(domainXml("", "", "<iothreads>2</iothreads>"), VIR_ERR_CONFIG_UNSUPPORTED),
              "element <iothreads> is not supported by mica");
    EXPECT_EQ(parseError(domainXml("<disk type='file' device='disk' snapshot='no'><source file='/a'/>"
                                   "<target dev='vda'/></disk>"),
                         VIR_ERR_CONFIG_UNSUPPORTED),
              "disk 'vda': attribute 'snapshot' of <disk> is not supported by mica");
    EXPECT_EQ(parseError(domainXml("<disk type='file'><source file='/a' startupPolicy='optional'/>"
                                   "<target dev='vda'/></disk>"),
                         VIR_ERR_CONFIG_UNSUPPORTED),
              "disk 'vda': attribute 'startupPolicy' of <source> is not supported by mica");
    std::string m = parseError(
        std::regex_replace(domainXml(), std::regex("<kernel>/k</kernel>"), "<loader>/fw.fd</loader><kernel>/k</kernel>"),
        VIR_ERR_CONFIG_UNSUPPORTED);
    EXPECT_NE(m.find("loader"), std::string::npos);
    parseError(domainXml("", "<features><hyperv/></features>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "<features><vmport state='on'/></features>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "<on_crash>coredump-destroy</on_crash>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "<pm><suspend-to-mem enabled='yes'/></pm>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "<clock offset='utc'><timer name='hpet' present='yes'/></clock>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "", "<memoryBacking><hugepages><page size='1' unit='GiB'/></hugepages></memoryBacking>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("", "", "<memoryBacking><source type='file'/></memoryBacking>"), VIR_ERR_CONFIG_UNSUPPORTED);
    auto mb = parseDomainXml(domainXml("", "", "<memoryBacking><source type='anonymous'/><access mode='shared'/></memoryBacking>"));
    EXPECT_FALSE(mb.memoryBacking.memfd());
    EXPECT_TRUE(mb.memoryBacking.shared());
    mb = parseDomainXml(domainXml("", "", "<memoryBacking><source type='memfd'/><access mode='private'/></memoryBacking>"));
    EXPECT_TRUE(mb.memoryBacking.memfd());
    EXPECT_FALSE(mb.memoryBacking.shared());
    // The RTC raises no interrupts: there is no tick to catch up.
    parseError(domainXml("", "<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/></clock>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<console type='pty'><target type='virtio'/></console>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<controller type='virtio-serial'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<controller type='pci' index='1' model='pcie-root-port'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<video><model type='virtio'/></video>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<rng model='virtio'><backend model='egd' type='tcp'/></rng>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<rng model='virtio'><backend model='random'>/dev/hwrng</backend></rng>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<memballoon model='virtio'><stats period='10'/></memballoon>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<serial type='unix'><source mode='connect' path='/s'/></serial>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<serial type='pty'><target port='1'/></serial>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<disk type='network'><source protocol='nbd'/><target dev='vda'/></disk>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<disk type='file'><driver name='qemu' cache='unsafe'/><source file='/a'/>"
                         "<target dev='vda'/></disk>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<disk type='file'><source file='/a'/><target dev='vda'/><boot order='1'/></disk>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<interface type='ethernet'><target dev='t0' managed='no'/></interface>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<interface type='ethernet'><driver name='vhost'/></interface>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
}

TEST(DomainXmlParser, WithoutValidateTheParserItselfRefusesUnknownAttributes)
{
    std::string xml = std::regex_replace(domainXml(), std::regex("<memory unit"), "<memory bogus='1' unit");
    parseError(xml, VIR_ERR_CONFIG_UNSUPPORTED);
    std::string m = parseError(xml, VIR_ERR_XML_INVALID_SCHEMA, VIR_DOMAIN_DEFINE_VALIDATE);
    EXPECT_NE(m.find("domain.rng"), std::string::npos) << m;
    EXPECT_NO_THROW(parseDomainXml(domainXml(), VIR_DOMAIN_DEFINE_VALIDATE));
}

TEST(DomainXmlParser, SerialAndConsole)
{
    // A console alone implies serial port 0 with its source (libvirt's rule).
    auto d = parseDomainXml(domainXml("<console type='file'><source path='/log'/></console>"));
    ASSERT_TRUE(d.serial);
    EXPECT_EQ(d.serial->source.type, CharSource::Type::File);
    EXPECT_EQ(d.serial->source.path, "/log");
    EXPECT_FALSE(d.console);
    // The console may come before the serial port in the document.
    d = parseDomainXml(domainXml("<console type='pty'><target type='serial'/></console><serial type='pty'/>"));
    EXPECT_TRUE(d.serial);
    parseError(domainXml("<serial type='pty'/><console type='file'><source path='/x'/></console>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<serial type='pty'/><serial type='pty'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<console type='pty'><target type='virtio'/></console>"
                         "<console type='pty'><target type='virtio'/></console>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<serial type='file'/>"), VIR_ERR_XML_ERROR);  // no path
    // A live status XML carries the pty path.
    d = parseDomainXml(domainXml("<serial type='pty'><source path='/dev/pts/7'/></serial>"));
    EXPECT_EQ(d.serial->source.path, "/dev/pts/7");
}

TEST(DomainXmlParser, InterfacesAndMacs)
{
    auto d = parseDomainXml(domainXml("<interface type='ethernet'><mac address='52:54:00:AB:CD:EF'/></interface>"
                                      "<interface type='bridge'><source bridge='br0'/></interface>"));
    ASSERT_EQ(d.nets.size(), 2u);
    EXPECT_EQ(d.nets[0].mac, "52:54:00:ab:cd:ef");
    EXPECT_TRUE(std::regex_match(d.nets[1].mac, std::regex("52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}")))
        << d.nets[1].mac;
    parseError(domainXml("<interface type='ethernet'><mac address='01:00:5e:00:00:01'/></interface>"),
               VIR_ERR_XML_ERROR);
    parseError(domainXml("<interface type='ethernet'><mac address='52:54:00:zz:00:01'/></interface>"),
               VIR_ERR_XML_ERROR);
    parseError(domainXml("<interface type='bridge'/>"), VIR_ERR_XML_ERROR);
    parseError(domainXml("<interface type='ethernet'><target dev='much-too-long-name0'/></interface>"),
               VIR_ERR_XML_ERROR);
    parseError(domainXml("<interface type='user'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
}

// Given addresses are kept (mica-vmm puts the device there); the others get the lowest
// free slots in device order; two devices in one slot are an XML error, as in libvirt.
TEST(DomainXmlParser, PciAddressesGivenAreKeptTheRestAssigned)
{
    auto d = parseDomainXml(domainXml(
        "<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
        "<disk type='file'><source file='/b'/><target dev='vdb'/><address type='pci' bus='0' slot='1'/></disk>"
        "<rng model='virtio'><backend model='random'/><address type='pci' bus='0' slot='0x1f'/></rng>"
        "<memballoon model='virtio'/>"));
    EXPECT_EQ(d.disks[0].address->slot, 2u);
    EXPECT_EQ(d.disks[1].address->slot, 1u);
    EXPECT_EQ(d.rng->address->slot, 31u);
    EXPECT_EQ(d.balloon.address->slot, 3u);
    parseError(domainXml("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' slot='3'/></disk>"
                         "<rng model='virtio'><backend model='random'/><address type='pci' slot='3'/></rng>"),
               VIR_ERR_XML_ERROR);
    parseError(domainXml("<rng model='virtio'><backend model='random'/><address type='pci' bus='1' slot='1'/></rng>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(domainXml("<rng model='virtio'><backend model='random'/><address type='ccw'/></rng>"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    std::string many;
    for (char c = 'a'; c <= 'z'; ++c)
        many += std::string("<disk type='file'><source file='/") + c + "'/><target dev='vd" + c + "'/></disk>";
    for (char c = 'a'; c <= 'f'; ++c)
        many += std::string("<disk type='file'><source file='/a") + c + "'/><target dev='vda" + c + "'/></disk>";
    parseError(domainXml(many), VIR_ERR_CONFIG_UNSUPPORTED);  // 32 devices, 31 slots
    parseError(domainXml("<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
                         "<disk type='file'><source file='/b'/><target dev='vda'/></disk>"),
               VIR_ERR_XML_ERROR);
}

TEST(DomainXmlParser, VsockAndBalloon)
{
    auto d = parseDomainXml(domainXml("<vsock model='virtio'><cid auto='no' address='7'/></vsock>"
                                      "<memballoon model='virtio' freePageReporting='on'/>"));
    EXPECT_FALSE(d.vsock->autoCid);
    EXPECT_EQ(d.vsock->cid, 7u);
    EXPECT_TRUE(d.balloon.present);
    EXPECT_TRUE(d.balloon.freePageReporting);
    parseError(domainXml("<vsock model='virtio'><cid auto='no' address='2'/></vsock>"), VIR_ERR_XML_ERROR);
    parseError(domainXml("<vsock model='virtio'><cid auto='no'/></vsock>"), VIR_ERR_XML_ERROR);
    parseError(domainXml("<memballoon model='xen'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
}

TEST(DomainXmlParser, MetadataIsKeptVerbatimWithItsNamespace)
{
    // The namespace is declared on <domain>, not on the metadata element itself.
    std::string xml = std::regex_replace(domainXml(), std::regex("<domain type='kvm'>"),
                                         "<domain type='kvm' xmlns:my='urn:my'>");
    xml = std::regex_replace(xml, std::regex("  <memory"), "<metadata><my:app v='1'>x &amp; y</my:app></metadata><memory");
    auto d = parseDomainXml(xml);
    ASSERT_EQ(d.metadata.size(), 1u);
    EXPECT_EQ(d.metadata[0], "<my:app xmlns:my=\"urn:my\" v=\"1\">x &amp; y</my:app>");
    parseError(std::regex_replace(domainXml(), std::regex("  <memory"), "<metadata><plain/></metadata><memory"),
               VIR_ERR_XML_ERROR);
}

TEST(DomainXmlParser, DocumentTypeDeclarationsAreRefused)
{
    // Neither a file's content (external entity) nor a billion laughs can get in.
    std::string xml = "<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>\n" +
                      std::regex_replace(domainXml(), std::regex("<name>t</name>"), "<name>a&x;</name>");
    EXPECT_NE(parseError(xml, VIR_ERR_XML_ERROR).find("DOCTYPE"), std::string::npos);
    std::string lol = "<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
                      "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]>\n" +
                      std::regex_replace(domainXml(), std::regex("<name>t</name>"), "<name>&d;</name>");
    parseError(lol, VIR_ERR_XML_ERROR);
    parseError("<!DOCTYPE domain>" + domainXml(), VIR_ERR_XML_ERROR);
}

TEST(DomainXmlParser, NamesAndTypes)
{
    parseError(std::regex_replace(domainXml(), std::regex("<name>t</name>"), "<name>a/b</name>"), VIR_ERR_XML_ERROR);
    parseError(std::regex_replace(domainXml(), std::regex("<name>t</name>"), ""), VIR_ERR_XML_ERROR);
    parseError(std::regex_replace(domainXml(), std::regex("type='kvm'"), "type='xen'"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(std::regex_replace(domainXml(), std::regex("arch='x86_64'"), "arch='aarch64'"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(std::regex_replace(domainXml(), std::regex("arch='x86_64'"), "arch='x86_64' machine='q35'"),
               VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(std::regex_replace(domainXml(), std::regex("<kernel>/k</kernel>"), "<kernel>k</kernel>"),
               VIR_ERR_XML_ERROR);
    auto d = parseDomainXml(std::regex_replace(domainXml(), std::regex("type='kvm'"), "type='kvm' id='4'"));
    EXPECT_EQ(d.id, 4);
}

TEST(DomainXmlParser, SecLabelDac)
{
    auto with = [](const std::string& seclabel) {
        return std::regex_replace(domainXml(), std::regex("</domain>"), seclabel + "</domain>");
    };
    auto d = parseDomainXml(with("<seclabel type='static' model='dac' relabel='yes'><label>+107:kvm</label></seclabel>"));
    ASSERT_TRUE(d.seclabel);
    EXPECT_TRUE(d.seclabel->isStatic);
    EXPECT_EQ(d.seclabel->label, "+107:kvm");
    EXPECT_NE(formatDomainXml(d, VIR_DOMAIN_XML_INACTIVE)
                  .find("<seclabel type=\"static\" model=\"dac\" relabel=\"yes\">\n    <label>+107:kvm</label>"),
              std::string::npos)
        << formatDomainXml(d, VIR_DOMAIN_XML_INACTIVE);
    // A dynamic label's <label> is output (the live XML's): not kept from input.
    d = parseDomainXml(with("<seclabel type='dynamic' model='dac'><label>+5:+5</label><imagelabel>+5:+5</imagelabel></seclabel>"));
    EXPECT_FALSE(d.seclabel->isStatic);
    EXPECT_TRUE(d.seclabel->label.empty());
    parseError(with("<seclabel type='static' model='dac'/>"), VIR_ERR_XML_ERROR);
    parseError(with("<seclabel type='static' model='dac'><label>107</label></seclabel>"), VIR_ERR_XML_ERROR);
    parseError(with("<seclabel type='none'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(with("<seclabel type='dynamic' model='selinux'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(with("<seclabel type='dynamic' model='dac' relabel='no'/>"), VIR_ERR_CONFIG_UNSUPPORTED);
    parseError(with("<seclabel model='dac'/><seclabel model='dac'/>"), VIR_ERR_CONFIG_UNSUPPORTED);

    EXPECT_EQ(resolveDacLabel("+107:+108"), std::make_pair(uid_t(107), gid_t(108)));
    EXPECT_EQ(resolveDacLabel("nobody:nogroup"), std::make_pair(uid_t(65534), gid_t(65534)));
    EXPECT_THROW(resolveDacLabel("+0:+5"), ConfError);          // root: never
    EXPECT_THROW(resolveDacLabel("no-such-user:+5"), ConfError);
    EXPECT_THROW(resolveDacLabel("+5:+99999999999"), ConfError);
}

TEST(DomainXmlParser, GlobalPeriodAndQuotaAreTheCgroupsCpuMax)
{
    auto with = [](const std::string& cputune) {
        return std::regex_replace(domainXml(), std::regex("</domain>"), "<cputune>" + cputune + "</cputune></domain>");
    };
    auto d = parseDomainXml(with("<global_period>50000</global_period><global_quota>25000</global_quota>"));
    EXPECT_EQ(d.tune.globalPeriod, 50000u);
    EXPECT_EQ(d.tune.globalQuota, 25000u);
    const Tunable* cpuMax = nullptr;
    for (const auto& t : kTunables)
        if (std::string(t.element) == "global_quota")
            cpuMax = &t;
    ASSERT_TRUE(cpuMax);
    EXPECT_EQ(cgroupValue(*cpuMax, d.tune), "25000 50000");
    d = parseDomainXml(with("<global_quota>-1</global_quota>"));   // no limit
    EXPECT_FALSE(d.tune.globalQuota);
    EXPECT_EQ(cgroupValue(*cpuMax, d.tune), "max 100000");
    parseError(with("<global_period>999</global_period>"), VIR_ERR_XML_ERROR);
    parseError(with("<global_quota>-2</global_quota>"), VIR_ERR_XML_ERROR);
    parseError(with("<period>1000</period>"), VIR_ERR_CONFIG_UNSUPPORTED);   // per vCPU: not yet
}

TEST(DomainXmlParser, DiskFormatsAreLibvirtsNamesAndRawByDefault)
{
    auto disk = [](const std::string& driver) {
        return domainXml("<disk type='file'>" + driver + "<source file='/a'/><target dev='vda'/></disk>");
    };
    EXPECT_EQ(parseDomainXml(disk("")).disks[0].format, DiskFormat::Raw);
    EXPECT_EQ(parseDomainXml(disk("<driver name='qemu'/>")).disks[0].format, DiskFormat::Raw);
    EXPECT_EQ(parseDomainXml(disk("<driver name='qemu' type='raw'/>")).disks[0].format, DiskFormat::Raw);
    EXPECT_EQ(parseDomainXml(disk("<driver name='qemu' type='qcow2'/>")).disks[0].format, DiskFormat::Qcow2);
    EXPECT_EQ(parseDomainXml(disk("<driver name='qemu' type='vpc'/>")).disks[0].format, DiskFormat::Vpc);
    // Not a format mica-vmm reads, or not libvirt's name for one (VHD is "vpc"; libvirt
    // has none for VHDX); "auto" would be probing.
    for (const char* f : {"vmdk", "vhd", "vhdx", "auto", "qed"}) {
        auto msg = parseError(disk(std::string("<driver name='qemu' type='") + f + "'/>"),
                              VIR_ERR_CONFIG_UNSUPPORTED);
        EXPECT_NE(msg.find(std::string("disk format '") + f + "'"), std::string::npos) << msg;
    }
}

TEST(DomainXmlParser, BackingStoreInputIsRefusedNamingIt)
{
    // mica-vmm opens the chain the images name: a chain given in the XML (even the
    // empty one, "no backing file") is not honoured, so it is refused.
    for (const char* chain : {"<backingStore type='file'><format type='raw'/><source file='/b'/><backingStore/>"
                              "</backingStore>",
                              "<backingStore/>"}) {
        auto msg = parseError(domainXml(std::string("<disk type='file'><driver name='qemu' type='qcow2'/>"
                                                    "<source file='/a'/>") +
                                        chain + "<target dev='vda'/></disk>"),
                              VIR_ERR_CONFIG_UNSUPPORTED);
        EXPECT_NE(msg.find("disk 'vda': <backingStore> is not supported"), std::string::npos) << msg;
    }
}
