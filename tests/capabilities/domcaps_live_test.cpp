// Suite 'kvm': mica-domcaps on a host with a real /dev/kvm. Its vcpu max must be what
// KVM_CAP_MAX_VCPUS says (asked here with our own ioctl), capped by the VMM's limit, and
// its output must validate against libvirt's schema.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "XPath.h"

namespace {

using mica::caps::test::xpath;

struct Output {
    int status = -1;
    std::string out;
};

Output run(const std::string& cmd)
{
    Output r;
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p)
        return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p.get())) > 0)
        r.out.append(buf.data(), n);
    r.status = ::pclose(p.release());
    return r;
}

// KVM's own answer, independently of capabilities/: MAX_VCPUS, else NR_VCPUS, else 4.
int kvmVcpuLimit()
{
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int max = ::ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    int nr = ::ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    ::close(fd);
    return max > 0 ? max : nr > 0 ? nr : 4;
}

std::string env(const char* name)
{
    const char* v = std::getenv(name);
    return v ? v : "";
}

std::string domcaps(const std::string& args, const std::string& envPrefix = "")
{
    Output r = run(envPrefix + " '" + env("MICA_DOMCAPS") + "' " + args + " 2>/dev/null");
    EXPECT_EQ(r.status, 0) << "mica-domcaps " << args;
    return r.out;
}

void expectValid(const std::string& xml, const char* type)
{
    char path[] = "/tmp/mica-domcaps-live.XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, xml.data(), xml.size()), static_cast<ssize_t>(xml.size()));
    ::close(fd);
    Output v = run(std::string("virt-xml-validate ") + path + " " + type + " 2>&1");
    ::unlink(path);
    EXPECT_EQ(v.status, 0) << v.out << xml;
}

TEST(DomcapsLive, VcpuMaxIsKvmsLimit)
{
    int kvm = kvmVcpuLimit();
    ASSERT_GT(kvm, 0) << "/dev/kvm is not usable here; run under tests/kvm-host/with-kvm";
    const std::string vmm = "--vmm '" + env("MICA_FAKE_VMM") + "'";

    std::string big = domcaps(vmm, "FAKE_VMM_MAX_VCPUS=1000000");
    expectValid(big, "domaincaps");
    EXPECT_EQ(xpath(big, "/domainCapabilities/vcpu/@max"), std::to_string(kvm));
    EXPECT_EQ(xpath(big, "//cpu/mode[@name='host-passthrough']/@supported"), "yes");

    // A VMM with fewer vCPUs than KVM caps the figure.
    std::string small = domcaps(vmm, "FAKE_VMM_MAX_VCPUS=3");
    EXPECT_EQ(xpath(small, "/domainCapabilities/vcpu/@max"), std::to_string(std::min(kvm, 3)));

    std::string host = domcaps(vmm + " --capabilities", "FAKE_VMM_MAX_VCPUS=1000000");
    expectValid(host, "capability");
    EXPECT_EQ(xpath(host, "/capabilities/guest/arch/machine/@maxCpus"), std::to_string(kvm));
    EXPECT_NE(xpath(host, "/capabilities/host/cpu/vendor"), "");
}

TEST(DomcapsLive, DefaultVmmDiscoveryValidates)
{
    // Whatever the build tree's mica-vmm can do today, the document stays valid and its
    // vcpu max is KVM's limit capped by what that VMM reports (absent without a VMM).
    std::string xml = domcaps("");
    expectValid(xml, "domaincaps");
    int kvm = kvmVcpuLimit();
    ASSERT_GT(kvm, 0);
    std::string vmm = xpath(xml, "/domainCapabilities/path");
    Output features = run("'" + vmm + "' --features 2>/dev/null");
    if (features.status == 0 && features.out.find("\"max_vcpus\"") != std::string::npos) {
        auto pos = features.out.find("\"max_vcpus\"");
        int vmmMax = std::atoi(features.out.c_str() + features.out.find(':', pos) + 1);
        EXPECT_EQ(xpath(xml, "/domainCapabilities/vcpu/@max"), std::to_string(std::min(kvm, vmmMax)));
    } else {
        EXPECT_EQ(xpath(xml, "/domainCapabilities/vcpu/@max"), "") << vmm << " does not answer --features";
    }
}

TEST(DomcapsLive, RecordsKvmAnswersAFixtureCanReplay)
{
    Output dump = run("'" + env("MICA_DOMCAPS") + "' --dump-kvm");
    ASSERT_EQ(dump.status, 0);
    EXPECT_NE(dump.out.find("\"supported_cpuid\""), std::string::npos);
    EXPECT_NE(dump.out.find("\"max_vcpus\": " + std::to_string(kvmVcpuLimit())), std::string::npos) << dump.out.substr(0, 200);
}

}  // namespace
