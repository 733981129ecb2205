// The Capabilities interface: argument checks with libvirt's errors, what the documents
// claim for each combination of host and VMM, and the probe cache.
#include <gtest/gtest.h>
#include <libvirt/virterror.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <thread>

#include "Capabilities.h"
#include "HostProbe.h"
#include "TestHosts.h"
#include "XPath.h"

namespace mica::caps {
namespace {

using test::ScratchHost;
using test::writeText;
using test::xcount;
using test::xpath;

Options fixtureOptions(const std::string& root)
{
    Options o;
    o.root = root;
    o.vmmPath = "/usr/libexec/mica-vmm";
    o.vmmFeaturesFile = root + "/vmm-features.json";
    return o;
}

std::string domcaps(const std::string& root)
{
    Capabilities caps(fixtureOptions(root));
    return caps.domainXml({}, {}, {}, {});
}

void expectError(Capabilities& caps, int code, const std::string& message, const std::optional<std::string>& emulator,
                 const std::optional<std::string>& arch, const std::optional<std::string>& machine,
                 const std::optional<std::string>& virttype)
{
    try {
        caps.domainXml(emulator, arch, machine, virttype);
        ADD_FAILURE() << "no error; expected: " << message;
    } catch (const CapsError& e) {
        EXPECT_EQ(e.code, code) << e.what();
        EXPECT_EQ(std::string(e.what()), message);
    }
}

TEST(DomainCapsArgs, AcceptsWhatWeServe)
{
    Capabilities caps(fixtureOptions(test::fixture("amd-sev")));
    std::string all = caps.domainXml({}, {}, {}, {});
    EXPECT_EQ(caps.domainXml({}, std::string("x86_64"), std::string("mica"), std::string("kvm")), all);
}

TEST(DomainCapsArgs, RejectsWithLibvirtsErrors)
{
    Capabilities caps(fixtureOptions(test::fixture("amd-sev")));
    const std::string vmm = "/usr/libexec/mica-vmm";
    expectError(caps, VIR_ERR_INVALID_ARG, "unknown virttype: kvmm", {}, {}, {}, std::string("kvmm"));
    expectError(caps, VIR_ERR_INVALID_ARG, "the accel 'qemu' is not supported by '" + vmm + "' on this host", {}, {},
                {}, std::string("qemu"));
    expectError(caps, VIR_ERR_INVALID_ARG, "unknown architecture: x86-64", {}, std::string("x86-64"), {}, {});
    expectError(caps, VIR_ERR_INVALID_ARG, "unable to find any emulator to serve 'aarch64' architecture", {},
                std::string("aarch64"), {}, {});
    expectError(caps, VIR_ERR_INVALID_ARG, "the machine 'pc-q35-7.2' is not supported by emulator '" + vmm + "'", {},
                {}, std::string("pc-q35-7.2"), {});
    expectError(caps, VIR_ERR_CONFIG_UNSUPPORTED,
                "emulator '/bin/sh' is not supported: this driver runs only '" + vmm + "'", std::string("/bin/sh"), {},
                {}, {});
    // Checked in libvirt's order: the machine before the accelerator.
    expectError(caps, VIR_ERR_INVALID_ARG, "the machine 'pc' is not supported by emulator '" + vmm + "'", {}, {},
                std::string("pc"), std::string("qemu"));
    try {
        caps.domainXml(std::string("/nonexistent/qemu-system-x86_64"), {}, {}, {});
        ADD_FAILURE() << "accepted a missing emulator";
    } catch (const CapsError& e) {
        EXPECT_EQ(e.code, VIR_ERR_SYSTEM_ERROR);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/qemu-system-x86_64"), std::string::npos);
    }
}

TEST(DomainCapsArgs, EmulatorMatchesThroughSymlinks)
{
    ScratchHost host("small-host");
    std::filesystem::copy_file(test::fakeVmm(), host.path("/mica-vmm"));
    std::filesystem::create_symlink(host.path("/mica-vmm"), host.path("/link-to-vmm"));
    Options o;
    o.root = host.dir();
    o.vmmPath = host.path("/mica-vmm");
    Capabilities caps(o);
    std::string xml = caps.domainXml(host.path("/link-to-vmm"), {}, {}, {});
    EXPECT_EQ(xpath(xml, "/domainCapabilities/path"), host.path("/mica-vmm"));
    expectError(caps, VIR_ERR_INVALID_ARG,
                "architecture from emulator 'x86_64' doesn't match given architecture 's390x'",
                host.path("/mica-vmm"), std::string("s390x"), {}, {});
}

TEST(DomainCaps, VcpuMaxIsTheSmallerOfKvmAndVmm)
{
    ScratchHost host("small-host");  // KVM_CAP_MAX_VCPUS 288, VMM 254
    EXPECT_EQ(xpath(domcaps(host.dir()), "/domainCapabilities/vcpu/@max"), "254");
    writeText(host.path("/vmm-features.json"), R"({"arch":"x86_64","max_vcpus":4096})");
    EXPECT_EQ(xpath(domcaps(host.dir()), "/domainCapabilities/vcpu/@max"), "288");
    std::filesystem::remove(host.path("/dev/kvm"));
    EXPECT_EQ(xcount(domcaps(host.dir()), "/domainCapabilities/vcpu"), 0);
}

TEST(DomainCaps, WithoutTheVmmNothingVmmDependentIsClaimed)
{
    std::string xml = domcaps(test::fixture("vmm-missing"));
    EXPECT_EQ(xpath(xml, "/domainCapabilities/path"), "/usr/libexec/mica-vmm");
    EXPECT_EQ(xcount(xml, "/domainCapabilities/vcpu"), 0);
    EXPECT_EQ(xcount(xml, "//*[@supported='yes']"), 0);
    std::string caps = Capabilities(fixtureOptions(test::fixture("vmm-missing"))).hostXml();
    EXPECT_EQ(xcount(caps, "/capabilities/guest"), 0);
    EXPECT_EQ(xpath(caps, "/capabilities/host/cpu/model"), "Skylake-Client-noTSX-IBRS");
}

TEST(DomainCaps, WithoutKvmTheHostStillAnswers)
{
    Capabilities caps(fixtureOptions(test::fixture("no-kvm")));
    std::string xml = caps.domainXml({}, {}, {}, {});
    EXPECT_EQ(xpath(xml, "//cpu/mode[@name='host-passthrough']/@supported"), "no");
    EXPECT_EQ(xpath(xml, "//features/sev/@supported"), "no");
    std::string host = caps.hostXml();
    EXPECT_EQ(xpath(host, "/capabilities/host/cpu/vendor"), "AMD");
    // Named from /proc/cpuinfo's family, model and flags.
    EXPECT_EQ(xpath(host, "/capabilities/host/cpu/model"), "EPYC-Milan");
    EXPECT_EQ(xpath(host, "/capabilities/host/cpu/signature/@family"), "25");
    EXPECT_EQ(xpath(host, "/capabilities/host/cpu/topology/@threads"), "2");
    EXPECT_EQ(xcount(host, "/capabilities/guest"), 0);
}

TEST(DomainCaps, SevNeedsHostAndVmm)
{
    ScratchHost host("amd-sev");
    std::string xml = domcaps(host.dir());
    EXPECT_EQ(xpath(xml, "//features/sev/@supported"), "yes");
    EXPECT_EQ(xpath(xml, "//features/sev/cbitpos"), "47");
    EXPECT_EQ(xpath(xml, "//features/sev/maxGuests"), "59");
    EXPECT_EQ(xpath(xml, "//features/sev/maxESGuests"), "450");
    // The same host with a VMM that cannot run SEV-ES guests.
    std::string f = test::readText(host.path("/vmm-features.json"));
    writeText(host.path("/vmm-features.json"), f.replace(f.find("\"sev-es\","), 9, ""));
    EXPECT_EQ(xpath(domcaps(host.dir()), "//features/sev/maxESGuests"), "0");
    // ... and one that cannot run SEV at all.
    writeText(host.path("/vmm-features.json"), f.replace(f.find("\"sev\","), 6, ""));
    EXPECT_EQ(xpath(domcaps(host.dir()), "//features/sev/@supported"), "no");
    // The intel host's VMM claims sev; the host has none.
    EXPECT_EQ(xpath(domcaps(test::fixture("intel-sgx")), "//features/sev/@supported"), "no");
}

TEST(DomainCaps, SgxAndVfio)
{
    std::string xml = domcaps(test::fixture("intel-sgx"));
    EXPECT_EQ(xpath(xml, "//features/sgx/@supported"), "yes");
    EXPECT_EQ(xpath(xml, "//features/sgx/flc"), "yes");
    EXPECT_EQ(xcount(xml, "//features/sgx/sections/section"), 2);
    EXPECT_EQ(xpath(xml, "//devices/hostdev/@supported"), "yes");
    EXPECT_EQ(xcount(xml, "//devices/hostdev/enum[@name='pciBackend']/value[.='vfio']"), 1);

    ScratchHost host("intel-sgx");
    std::filesystem::remove(host.path("/dev/vfio/vfio"));
    std::string noVfio = domcaps(host.dir());
    EXPECT_EQ(xpath(noVfio, "//devices/hostdev/@supported"), "no");
    EXPECT_EQ(xpath(Capabilities(fixtureOptions(host.dir())).hostXml(), "//host/iommu/@support"), "yes");

    EXPECT_EQ(xpath(domcaps(test::fixture("small-host")), "//devices/hostdev/@supported"), "no");
}

TEST(DomainCaps, FirmwareOnlyWhenTheVmmCanBootIt)
{
    std::string amd = domcaps(test::fixture("amd-sev"));
    EXPECT_EQ(xpath(amd, "//os/enum[@name='firmware']/value"), "efi");
    EXPECT_EQ(xcount(amd, "//os/loader/value"), 1);
    EXPECT_EQ(xpath(amd, "//os/loader/value"), "/usr/share/mica/firmware/hypervisor-fw");
    // Only an OVMF for pflash on q35 is installed there.
    std::string intel = domcaps(test::fixture("intel-sgx"));
    EXPECT_EQ(xpath(intel, "//os/loader/@supported"), "no");
    EXPECT_EQ(xcount(intel, "//os/enum[@name='firmware']/value"), 0);
}

TEST(DomainCaps, CpuModesFollowTheVmm)
{
    std::string amd = domcaps(test::fixture("amd-sev"));
    EXPECT_EQ(xpath(amd, "//cpu/mode[@name='host-model']/model"), "EPYC-Rome");
    EXPECT_EQ(xpath(amd, "//cpu/mode[@name='host-model']/model/@fallback"), "forbid");
    EXPECT_EQ(xpath(amd, "//cpu/mode[@name='custom']/model[.='EPYC-Rome']/@usable"), "yes");
    EXPECT_EQ(xpath(amd, "//cpu/mode[@name='custom']/model[.='EPYC-Milan']/@usable"), "no");
    // The first VMM feature list has no CPU models: passthrough only.
    std::string small = domcaps(test::fixture("small-host"));
    EXPECT_EQ(xpath(small, "//cpu/mode[@name='host-passthrough']/@supported"), "yes");
    EXPECT_EQ(xpath(small, "//cpu/mode[@name='host-model']/@supported"), "no");
    EXPECT_EQ(xpath(small, "//cpu/mode[@name='custom']/@supported"), "no");
    EXPECT_EQ(xpath(small, "//devices/filesystem/@supported"), "no");
    EXPECT_EQ(xpath(small, "//iothreads/@supported"), "no");
}

TEST(HostCaps, HostDescription)
{
    std::string xml = Capabilities(fixtureOptions(test::fixture("amd-sev"))).hostXml();
    EXPECT_EQ(xpath(xml, "/capabilities/host/uuid"), "4c4c4544-0047-3910-8052-b4c04f4d3732");
    EXPECT_EQ(xpath(xml, "/capabilities/host/cpu/model"), "EPYC-Rome");
    EXPECT_EQ(xpath(xml, "/capabilities/host/cpu/topology/@sockets"), "2");
    EXPECT_EQ(xcount(xml, "/capabilities/host/cpu/pages"), 3);
    EXPECT_EQ(xpath(xml, "/capabilities/host/topology/cells/@num"), "2");
    EXPECT_EQ(xpath(xml, "//cell[@id='1']/pages[@size='2048']"), "1024");
    EXPECT_EQ(xpath(xml, "/capabilities/host/secmodel/model"), "none");
    EXPECT_EQ(xpath(xml, "/capabilities/guest/os_type"), "hvm");
    EXPECT_EQ(xpath(xml, "/capabilities/guest/arch/@name"), "x86_64");
    EXPECT_EQ(xpath(xml, "/capabilities/guest/arch/emulator"), "/usr/libexec/mica-vmm");
    EXPECT_EQ(xpath(xml, "/capabilities/guest/arch/domain/@type"), "kvm");
    EXPECT_EQ(xpath(xml, "/capabilities/guest/arch/machine/@maxCpus"), "254");
    // machine-id stands in for a missing SMBIOS UUID
    EXPECT_EQ(xpath(Capabilities(fixtureOptions(test::fixture("small-host"))).hostXml(), "/capabilities/host/uuid"),
              "11112222-3333-4444-5555-666677778888");
}

void touch(const std::string& path, int secondsAhead)
{
    struct timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec += secondsAhead;
    times[1] = times[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

TEST(CapabilitiesCache, ProbesOnceUntilAWatchedFileChanges)
{
    ScratchHost host("amd-sev");
    Capabilities caps(fixtureOptions(host.dir()));
    EXPECT_EQ(caps.probeCount(), 0u);
    std::string first = caps.domainXml({}, {}, {}, {});
    caps.hostXml();
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(caps.domainXml({}, {}, {}, {}), first);
    EXPECT_EQ(caps.probeCount(), 1u);

    touch(host.path("/dev/kvm"), 10);
    caps.hostXml();
    EXPECT_EQ(caps.probeCount(), 2u);

    touch(host.path("/vmm-features.json"), 20);
    caps.hostXml();
    EXPECT_EQ(caps.probeCount(), 3u);

    touch(host.path("/usr/share/qemu/firmware/60-mica-hypervisor-fw.json"), 30);
    caps.hostXml();
    EXPECT_EQ(caps.probeCount(), 4u);
    caps.hostXml();
    EXPECT_EQ(caps.probeCount(), 4u);

    // A new descriptor appears (the directory's mtime moves): it is listed at once.
    writeText(host.path("/etc/qemu/firmware/65-extra.json"), R"({
        "interface-types": ["bios"], "mapping": {"device": "memory", "filename": "/usr/share/mica/firmware/bios"},
        "targets": [{"architecture": "x86_64", "machines": ["mi*"]}]})");
    writeText(host.path("/usr/share/mica/firmware/bios"), "");
    touch(host.path("/etc/qemu/firmware"), 40);
    std::string after = caps.domainXml({}, {}, {}, {});
    EXPECT_EQ(caps.probeCount(), 5u);
    EXPECT_EQ(xcount(after, "//os/loader/value"), 2);
    EXPECT_EQ(xcount(after, "//os/enum[@name='firmware']/value[.='bios']"), 1);

    // /dev/kvm going away is a change too.
    std::filesystem::remove(host.path("/dev/kvm"));
    EXPECT_EQ(xcount(caps.domainXml({}, {}, {}, {}), "/domainCapabilities/vcpu"), 0);
    EXPECT_EQ(caps.probeCount(), 6u);
}

TEST(CapabilitiesCache, ConcurrentCallersShareOneProbe)
{
    Capabilities caps(fixtureOptions(test::fixture("intel-sgx")));
    std::vector<std::thread> threads;
    std::vector<std::string> out(8);
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] { out[static_cast<std::size_t>(i)] = caps.domainXml({}, {}, {}, {}); });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(caps.probeCount(), 1u);
    for (const auto& o : out)
        EXPECT_EQ(o, out[0]);
}

TEST(CapabilitiesCache, ArgumentErrorsDoNotProbe)
{
    Capabilities caps(fixtureOptions(test::fixture("intel-sgx")));
    EXPECT_THROW(caps.domainXml({}, std::string("bogus"), {}, {}), CapsError);
    EXPECT_EQ(caps.probeCount(), 0u);
}

TEST(CapabilitiesCache, ABrokenCpuMapIsAnInternalError)
{
    Options o = fixtureOptions(test::fixture("intel-sgx"));
    o.cpuMapDir = "/nonexistent";
    Capabilities caps(o);
    try {
        caps.hostXml();
        FAIL() << "no error";
    } catch (const CapsError& e) {
        EXPECT_EQ(e.code, VIR_ERR_INTERNAL_ERROR);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/index.xml"), std::string::npos);
    }
}

}  // namespace
}  // namespace mica::caps
