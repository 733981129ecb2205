// The host probe on fake trees: KVM answers, topology, SEV, SGX, firmware descriptors and
// the VMM's feature list.
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/stat.h>

#include <algorithm>

#include "FirmwareDescriptors.h"
#include "HostProbe.h"
#include "HostTopology.h"
#include "KvmProbe.h"
#include "SevProbe.h"
#include "SgxProbe.h"
#include "TestHosts.h"
#include "VmmFeatures.h"

namespace mica::caps {
namespace {

using test::ScratchHost;
using test::writeText;

TEST(HostRoot, ReadsUnderTheRootAndParsesCpuLists)
{
    HostRoot root(test::fixture("amd-sev") + "/");
    EXPECT_EQ(root.readLine("/sys/devices/system/cpu/online").value_or(""), "0-31");
    EXPECT_FALSE(root.exists("/dev/sgx_vepc"));
    EXPECT_TRUE(root.exists("/dev/sev"));
    EXPECT_EQ(parseCpuList("0-2,5,7-8\n"), (std::vector<unsigned>{0, 1, 2, 5, 7, 8}));
    EXPECT_EQ(parseCpuList("3-1,x,4"), std::vector<unsigned>{4});
    EXPECT_TRUE(HostRoot("/").isRealRoot());
}

TEST(KvmProbe, RecordedAnswersRoundTrip)
{
    KvmInfo kvm = probeKvm(HostRoot(test::fixture("amd-sev")));
    ASSERT_TRUE(kvm.available) << kvm.error;
    EXPECT_TRUE(kvm.recorded);
    EXPECT_EQ(kvm.apiVersion, KVM_API_VERSION);
    EXPECT_EQ(kvm.maxVcpus, 1024);
    EXPECT_EQ(kvm.vcpuLimit(), 1024);
    EXPECT_EQ(kvm.supported.vendorString(), "AuthenticAMD");
    KvmInfo again = parseRecordedKvm(kvmInfoToJson(kvm));
    EXPECT_EQ(again.supported.leaves().size(), kvm.supported.leaves().size());
    EXPECT_EQ(again.hostLeaf(0x8000001f).ebx, 0x16fu);
}

TEST(KvmProbe, VcpuLimitFallsBackLikeLibvirt)
{
    KvmInfo k;
    k.maxVcpus = 0;
    k.nrVcpus = 8;
    EXPECT_EQ(k.vcpuLimit(), 8);
    k.nrVcpus = 0;
    EXPECT_EQ(k.vcpuLimit(), 4);
}

TEST(KvmProbe, MissingOrBrokenDeviceIsReportedNotThrown)
{
    ScratchHost host("small-host");
    std::filesystem::remove(host.path("/dev/kvm"));
    KvmInfo none = probeKvm(HostRoot(host.dir()));
    EXPECT_FALSE(none.available);
    EXPECT_NE(none.error.find("/dev/kvm"), std::string::npos);

    writeText(host.path("/dev/kvm"), R"({"api_version": 11, "supported_cpuid": []})");
    KvmInfo old = probeKvm(HostRoot(host.dir()));
    EXPECT_FALSE(old.available);
    EXPECT_NE(old.error.find("api_version 11"), std::string::npos) << old.error;

    writeText(host.path("/dev/kvm"), "{not json");
    EXPECT_FALSE(probeKvm(HostRoot(host.dir())).available);
    EXPECT_THROW(parseRecordedKvm(R"({"api_version": 12, "supported_cpuid": [{"function": "0xZZ"}]})"),
                 std::exception);
}

TEST(HostTopology, SocketsCoresThreadsAndNumaCells)
{
    HostTopology t = probeTopology(HostRoot(test::fixture("amd-sev")));
    EXPECT_EQ(t.cpus.size(), 32u);
    EXPECT_EQ(t.sockets, 2u);
    EXPECT_EQ(t.dies, 1u);
    EXPECT_EQ(t.cores, 8u);
    EXPECT_EQ(t.threads, 2u);
    ASSERT_EQ(t.cells.size(), 2u);
    EXPECT_EQ(t.cells[1].memoryKiB, 67108864u);
    EXPECT_EQ(t.cells[0].cpus.size(), 16u);
    ASSERT_EQ(t.cells[0].distances.size(), 2u);
    EXPECT_EQ(t.cells[0].distances[1].second, 21u);
    ASSERT_EQ(t.cells[0].pages.size(), 3u);
    EXPECT_EQ(t.cells[0].pages[1].sizeKiB, 2048u);
    EXPECT_EQ(t.cells[0].pages[1].count, 1024u);
    EXPECT_EQ(t.pageSizesKiB, (std::vector<unsigned>{4, 2048, 1048576}));
    EXPECT_EQ(t.physAddrBits, 43u);
}

TEST(HostTopology, NoNumaAndNoHugePages)
{
    HostTopology t = probeTopology(HostRoot(test::fixture("small-host")));
    ASSERT_EQ(t.cells.size(), 1u);
    EXPECT_EQ(t.cells[0].cpus.size(), 2u);
    EXPECT_EQ(t.cells[0].memoryKiB, 2030000u);
    EXPECT_EQ(t.pageSizesKiB, std::vector<unsigned>{4});
}

TEST(SevProbe, NeedsKvmParameterDeviceAndCpu)
{
    ScratchHost host("amd-sev");
    HostRoot root(host.dir());
    KvmInfo kvm = probeKvm(root);
    SevInfo sev = probeSev(root, kvm);
    EXPECT_TRUE(sev.supported());
    EXPECT_TRUE(sev.esSupported());
    EXPECT_FALSE(sev.snpSupported());
    EXPECT_EQ(sev.cbitpos, 47u);
    EXPECT_EQ(sev.reducedPhysBits, 5u);
    EXPECT_EQ(sev.maxGuests, 59u);
    EXPECT_EQ(sev.maxESGuests, 450u);

    writeText(host.path("/sys/module/kvm_amd/parameters/sev_es"), "N\n");
    SevInfo noEs = probeSev(root, kvm);
    EXPECT_TRUE(noEs.supported());
    EXPECT_EQ(noEs.maxESGuests, 0u);

    std::filesystem::remove(host.path("/dev/sev"));
    EXPECT_FALSE(probeSev(root, kvm).supported());
    writeText(host.path("/dev/sev"), "");
    writeText(host.path("/sys/module/kvm_amd/parameters/sev"), "0\n");
    EXPECT_FALSE(probeSev(root, kvm).supported());
}

TEST(SgxProbe, SectionsFromCpuidAndTheVepcDevice)
{
    ScratchHost host("intel-sgx");
    HostRoot root(host.dir());
    KvmInfo kvm = probeKvm(root);
    SgxInfo sgx = probeSgx(root, kvm);
    EXPECT_TRUE(sgx.supported());
    EXPECT_TRUE(sgx.flc);
    EXPECT_TRUE(sgx.sgx1);
    EXPECT_TRUE(sgx.sgx2);
    ASSERT_EQ(sgx.sections.size(), 2u);
    EXPECT_EQ(sgx.sections[0].sizeKiB, 0x3fc00000u / 1024);
    EXPECT_EQ(sgx.sections[1].node, 1u);
    EXPECT_EQ(sgx.totalKiB, (0x3fc00000u + 0x3ff00000u) / 1024);
    std::filesystem::remove(host.path("/dev/sgx_vepc"));
    EXPECT_FALSE(probeSgx(root, kvm).supported());
    EXPECT_FALSE(probeSgx(HostRoot(test::fixture("amd-sev")), probeKvm(HostRoot(test::fixture("amd-sev")))).supported());
}

VmmFeatures memoryFirmwareVmm()
{
    return parseVmmFeatures(
        R"({"arch":"x86_64","max_vcpus":8,"firmware":["memory"],"devices":[],"features":[]})");
}

TEST(FirmwareDescriptors, SearchOrderMaskingAndProblems)
{
    HostRoot root(test::fixture("amd-sev"));
    FirmwareScan scan = scanFirmware(root);
    std::vector<std::string> names;
    for (const auto& d : scan.descriptors)
        names.push_back(d.file.substr(d.file.rfind('/') + 1));
    EXPECT_EQ(names, (std::vector<std::string>{"50-edk2-ovmf-x86_64-secure.json", "60-mica-hypervisor-fw.json",
                                               "61-mica-aarch64.json", "70-missing-image.json"}));
    ASSERT_EQ(scan.problems.size(), 1u);
    EXPECT_NE(scan.problems[0].find("80-truncated.json"), std::string::npos);

    VmmFeatures vmm = memoryFirmwareVmm();
    auto usable = [&](std::size_t i) { return firmwareUsable(scan.descriptors[i], vmm, root, "x86_64", "mica"); };
    EXPECT_FALSE(usable(0));  // pflash, q35 only, needs SMM
    EXPECT_TRUE(usable(1));
    EXPECT_FALSE(usable(2));  // aarch64
    EXPECT_FALSE(usable(3));  // image not installed
    vmm.firmware.clear();
    EXPECT_FALSE(usable(1));  // the VMM cannot load it
    vmm.present = false;
    vmm.firmware = {"memory"};
    EXPECT_FALSE(usable(1));
}

TEST(FirmwareDescriptors, EtcOverridesUsrShare)
{
    ScratchHost host("amd-sev");
    writeText(host.path("/etc/qemu/firmware/60-mica-hypervisor-fw.json"), R"({
        "interface-types": ["bios"], "mapping": {"device": "kernel", "filename": "/boot/fw"},
        "targets": [{"architecture": "x86_64", "machines": ["mica"]}]})");
    FirmwareScan scan = scanFirmware(HostRoot(host.dir()));
    auto it = std::find_if(scan.descriptors.begin(), scan.descriptors.end(),
                           [](auto& d) { return d.file.find("60-mica") != std::string::npos; });
    ASSERT_NE(it, scan.descriptors.end());
    EXPECT_EQ(it->file, "/etc/qemu/firmware/60-mica-hypervisor-fw.json");
    EXPECT_EQ(it->device, "kernel");
}

TEST(VmmFeatures, ParsesTheVmmAnswer)
{
    VmmFeatures f = parseVmmFeatures(
        R"({"version":"0.1.0","arch":"x86_64","max_vcpus":254,"boot":["bzimage","pvh"],"firmware":[],)"
        R"("devices":["serial","virtio-blk"],"disk_formats":["raw"],"features":["hugepages","seccomp","pause"]})");
    EXPECT_TRUE(f.present);
    EXPECT_EQ(f.maxVcpus, 254u);
    EXPECT_TRUE(f.hasDevice("virtio-blk"));
    EXPECT_FALSE(f.hasDevice("vfio-pci"));
    EXPECT_TRUE(f.hasFeature("pause"));
    EXPECT_THROW(parseVmmFeatures(R"({"arch":"x86_64"})"), std::runtime_error);
    EXPECT_THROW(parseVmmFeatures(R"({"arch":"x86_64","max_vcpus":0})"), std::runtime_error);
    EXPECT_THROW(parseVmmFeatures(R"({"arch":"x86_64","max_vcpus":4,"devices":"virtio-blk"})"), std::runtime_error);
    EXPECT_THROW(parseVmmFeatures("[]"), std::runtime_error);
}

TEST(VmmFeatures, RunsTheBinary)
{
    ::setenv("FAKE_VMM_MAX_VCPUS", "77", 1);
    VmmFeatures f = queryVmmFeatures(test::fakeVmm());
    ::unsetenv("FAKE_VMM_MAX_VCPUS");
    ASSERT_TRUE(f.present) << f.error;
    EXPECT_EQ(f.maxVcpus, 77u);
    EXPECT_EQ(f.path, test::fakeVmm());

    VmmFeatures missing = queryVmmFeatures("/nonexistent/mica-vmm");
    EXPECT_FALSE(missing.present);
    EXPECT_EQ(missing.path, "/nonexistent/mica-vmm");
    EXPECT_NE(missing.error.find("/nonexistent/mica-vmm"), std::string::npos);

    // A program that prints nothing useful (true(1) ignores --features and exits 0).
    VmmFeatures silent = queryVmmFeatures("/bin/true");
    EXPECT_FALSE(silent.present);
    EXPECT_NE(silent.error.find("not JSON"), std::string::npos) << silent.error;
    VmmFeatures failing = queryVmmFeatures("/bin/false");
    EXPECT_FALSE(failing.present);
    EXPECT_NE(failing.error.find("status 1"), std::string::npos) << failing.error;
}

TEST(VmmFeatures, FindsTheVmm)
{
    EXPECT_EQ(findVmm("/x/mica-vmm"), "/x/mica-vmm");
    ::setenv("MICA_VMM", "/from/env/mica-vmm", 1);
    EXPECT_EQ(findVmm(""), "/from/env/mica-vmm");
    ::unsetenv("MICA_VMM");
    // This test runs from the build tree, so the VMM beside it wins over libexecdir.
    std::string found = findVmm("");
    EXPECT_EQ(found.substr(found.size() - 13), "/vmm/mica-vmm") << found;
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(found).parent_path().parent_path() / "build.ninja"))
        << found;
}

TEST(HostProbe, AVmmForAnotherArchitectureServesNothing)
{
    ScratchHost host("small-host");
    writeText(host.path("/vmm.json"), R"({"arch":"aarch64","max_vcpus":8})");
    ProbeSources src;
    src.root = host.dir();
    src.vmmPath = "/usr/libexec/mica-vmm";
    src.vmmFeaturesFile = host.path("/vmm.json");
    HostInfo h = probeHost(src);
    EXPECT_FALSE(h.vmm.present);
    EXPECT_NE(h.vmm.error.find("aarch64"), std::string::npos);
}

}  // namespace
}  // namespace mica::caps
