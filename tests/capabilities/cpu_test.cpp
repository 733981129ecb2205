// CPU naming: libvirt's cpu_map, the decoder and the custom-model list.
#include <gtest/gtest.h>

#include <algorithm>

#include "CpuMap.h"
#include "CpuidModel.h"
#include "HostRoot.h"
#include "KvmProbe.h"
#include "TestHosts.h"

namespace mica::caps {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

KvmInfo fixtureKvm(const std::string& host)
{
    return parseRecordedKvm(test::readText(test::fixture(host) + "/dev/kvm"));
}

TEST(CpuMap, LoadsLibvirtsX86Map)
{
    CpuMap map = CpuMap::load();
    EXPECT_EQ(map.vendorName("AuthenticAMD"), "AMD");
    EXPECT_EQ(map.vendorName("GenuineIntel"), "Intel");
    EXPECT_EQ(map.vendorName("NoSuchVendor"), "");
    const CpuFeatureDef* sse41 = map.feature("sse4.1");
    ASSERT_NE(sse41, nullptr);
    ASSERT_EQ(sse41->cpuid.size(), 1u);
    EXPECT_EQ(sse41->cpuid[0].function, 1u);
    EXPECT_EQ(sse41->cpuid[0].ecx, 1u << 19);
    const CpuFeatureDef* invtsc = map.feature("invtsc");
    ASSERT_NE(invtsc, nullptr);
    EXPECT_FALSE(invtsc->migratable);
    auto rome = std::find_if(map.models().begin(), map.models().end(), [](auto& m) { return m.name == "EPYC-Rome"; });
    ASSERT_NE(rome, map.models().end());
    EXPECT_EQ(rome->vendor, "AMD");
    EXPECT_TRUE(contains(rome->features, "sha-ni"));
}

TEST(CpuMap, KernelFlagSpellings)
{
    CpuMap map = CpuMap::load();
    ASSERT_NE(map.featureByKernelName("sse4_1"), nullptr);
    EXPECT_EQ(map.featureByKernelName("sse4_1")->name, "sse4.1");
    ASSERT_NE(map.featureByKernelName("cqm"), nullptr);  // an alias
    EXPECT_EQ(map.featureByKernelName("cqm")->name, "cmt");
    EXPECT_EQ(map.featureByKernelName("no_such_flag"), nullptr);
}

TEST(CpuMap, MissingDirectoryNamesTheFile)
{
    try {
        CpuMap::load("/nonexistent/cpu_map");
        FAIL() << "loaded a map from nowhere";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/cpu_map/index.xml"), std::string::npos) << e.what();
    }
}

TEST(CpuidModel, DecodesSignatureVendorAndModel)
{
    CpuMap map = CpuMap::load();
    DecodedCpu amd = decodeCpu(map, fixtureKvm("amd-sev").supported);
    EXPECT_EQ(amd.vendor, "AMD");
    EXPECT_EQ(amd.model, "EPYC-Rome");
    EXPECT_EQ(amd.signature.family, 23u);
    EXPECT_EQ(amd.signature.model, 49u);
    EXPECT_TRUE(amd.missing.empty());
    EXPECT_TRUE(contains(amd.extra, "x2apic"));
    EXPECT_FALSE(contains(amd.extra, "sha-ni"));  // part of the model, not extra

    DecodedCpu intel = decodeCpu(map, fixtureKvm("intel-sgx").supported);
    EXPECT_EQ(intel.vendor, "Intel");
    EXPECT_EQ(intel.model, "Icelake-Server");
    EXPECT_EQ(intel.signature.family, 6u);
    EXPECT_EQ(intel.signature.model, 106u);
    EXPECT_EQ(intel.signature.stepping, 6u);
    EXPECT_TRUE(contains(intel.extra, "sgx1"));
}

TEST(CpuidModel, AMissingFeatureIsDisabledOrPicksAnOlderModel)
{
    CpuMap map = CpuMap::load();
    KvmInfo kvm = fixtureKvm("amd-sev");
    // Take SHA away (leaf 7 EBX bit 29): Rome is still the signature match, minus sha-ni.
    std::vector<CpuidLeaf> leaves = kvm.supported.leaves();
    for (auto& l : leaves)
        if (l.function == 7 && l.index == 0)
            l.ebx &= ~(1u << 29);
    DecodedCpu cpu = decodeCpu(map, CpuidData(leaves));
    EXPECT_EQ(cpu.model, "EPYC-Rome");
    EXPECT_EQ(cpu.missing, std::vector<std::string>{"sha-ni"});

    // An unknown vendor only gets vendor-neutral models.
    for (auto& l : leaves)
        if (l.function == 0)
            l.ebx = 0x41414141;
    DecodedCpu odd = decodeCpu(map, CpuidData(leaves));
    EXPECT_EQ(odd.vendor, "");
    auto def = std::find_if(map.models().begin(), map.models().end(), [&](auto& m) { return m.name == odd.model; });
    ASSERT_NE(def, map.models().end());
    EXPECT_EQ(def->vendor, "");
}

TEST(CpuidModel, CustomModelsAreUsableOnlyWithAllTheirFeatures)
{
    CpuMap map = CpuMap::load();
    DecodedCpu amd = decodeCpu(map, fixtureKvm("amd-sev").supported);
    auto models = customModels(map, amd.present);
    ASSERT_EQ(models.size(), map.models().size());
    auto find = [&](const std::string& n) {
        return *std::find_if(models.begin(), models.end(), [&](auto& m) { return m.name == n; });
    };
    EXPECT_TRUE(find("EPYC-Rome").usable);
    EXPECT_EQ(find("EPYC-Rome").vendor, "AMD");
    EXPECT_FALSE(find("EPYC-Milan").usable);       // needs pku, pcid, ... Rome lacks
    EXPECT_FALSE(find("Icelake-Server").usable);   // AVX-512
    EXPECT_TRUE(find("qemu64").usable);
    EXPECT_EQ(find("qemu64").vendor, "unknown");
}

}  // namespace
}  // namespace mica::caps
