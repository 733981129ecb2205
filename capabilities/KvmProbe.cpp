#include "KvmProbe.h"

#include <cpuid.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "UniqueFd.h"
#include "JsonObject.h"

namespace mica::caps {

namespace {

using nlohmann::json;

// Linux 6.1's <asm/kvm.h> declares kvm_cpuid2's entries with __DECLARE_FLEX_ARRAY, which
// in C++ adds an empty struct: sizeof(kvm_cpuid2) becomes 12, not 8, and the
// KVM_GET_SUPPORTED_CPUID number built from it is one the kernel rejects with EINVAL.
// So the header and the request number are spelled out here with the kernel's layout.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(kvm_cpuid_entry2) == 40);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);

// KVM_GET_SUPPORTED_CPUID fails with E2BIG until the buffer is big enough; start small and
// double, as libvirt does, up to a bound no kernel comes near.
std::vector<CpuidLeaf> supportedCpuid(int kvmFd, std::string& error)
{
    for (uint32_t n = 64; n <= 65536; n *= 2) {
        std::vector<unsigned char> buf(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
        CpuidHeader header{n, 0};
        std::memcpy(buf.data(), &header, sizeof header);
        if (::ioctl(kvmFd, kGetSupportedCpuid, buf.data()) == 0) {
            std::memcpy(&header, buf.data(), sizeof header);
            std::vector<CpuidLeaf> leaves;
            for (uint32_t i = 0; i < header.nent && i < n; ++i) {
                kvm_cpuid_entry2 e;
                std::memcpy(&e, buf.data() + sizeof header + i * sizeof e, sizeof e);
                leaves.push_back({e.function, e.index, e.eax, e.ebx, e.ecx, e.edx});
            }
            return leaves;
        }
        if (errno != E2BIG) {
            error = std::string("KVM_GET_SUPPORTED_CPUID: ") + std::strerror(errno);
            return {};
        }
    }
    error = "KVM_GET_SUPPORTED_CPUID: more than 65536 entries";
    return {};
}

// The host leaves SEV and SGX are described by; KVM may hide them from guests while the
// host still has the hardware, and QEMU reads 0x8000001F from the host, too.
std::vector<CpuidLeaf> hostCpuid()
{
    std::vector<CpuidLeaf> leaves;
    auto add = [&](uint32_t fn, uint32_t idx) {
        unsigned a = 0, b = 0, c = 0, d = 0;
        __cpuid_count(fn, idx, a, b, c, d);
        leaves.push_back({fn, idx, a, b, c, d});
    };
    unsigned maxBasic = __get_cpuid_max(0, nullptr);
    add(0, 0);
    add(1, 0);
    if (maxBasic >= 7)
        add(7, 0);
    if (maxBasic >= 0x12)
        for (uint32_t i = 0; i < 10; ++i)
            add(0x12, i);
    unsigned maxExt = __get_cpuid_max(0x80000000, nullptr);
    add(0x80000000, 0);
    if (maxExt >= 0x8000001f)
        add(0x8000001f, 0);
    return leaves;
}

KvmInfo probeLiveKvm(const std::string& devPath)
{
    KvmInfo info;
    UniqueFd fd(::open(devPath.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) {
        info.error = devPath + ": " + std::strerror(errno);
        return info;
    }
    info.apiVersion = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
    if (info.apiVersion != KVM_API_VERSION) {
        info.error = devPath + ": KVM API version " + std::to_string(info.apiVersion) + ", expected " +
                     std::to_string(KVM_API_VERSION);
        return info;
    }
    info.nrVcpus = std::max(0, ::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS));
    info.maxVcpus = std::max(0, ::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS));
    info.supported = CpuidData(supportedCpuid(fd.get(), info.error));
    if (info.supported.empty()) {
        info.error = devPath + ": " + info.error;
        return info;
    }
    info.host = CpuidData(hostCpuid());
    info.available = true;
    return info;
}

uint32_t reg(const json& leaf, const char* name)
{
    auto it = leaf.find(name);
    if (it == leaf.end())
        return 0;
    if (it->is_number_unsigned())
        return it->get<uint32_t>();
    if (it->is_string()) {
        const std::string s = it->get<std::string>();
        std::size_t used = 0;
        unsigned long v = std::stoul(s, &used, 0);
        if (used != s.size() || v > 0xffffffffUL)
            throw std::runtime_error(std::string("bad register value '") + s + "' for " + name);
        return static_cast<uint32_t>(v);
    }
    throw std::runtime_error(std::string("register ") + name + " is neither a number nor a string");
}

std::vector<CpuidLeaf> parseLeaves(const json& array, const char* what)
{
    std::vector<CpuidLeaf> leaves;
    if (array.is_null())
        return leaves;
    if (!array.is_array())
        throw std::runtime_error(std::string(what) + " is not an array");
    for (const auto& l : array) {
        if (!l.is_object())
            throw std::runtime_error(std::string(what) + ": an entry is not an object");
        leaves.push_back({reg(l, "function"), reg(l, "index"), reg(l, "eax"), reg(l, "ebx"), reg(l, "ecx"),
                          reg(l, "edx")});
    }
    return leaves;
}

std::string hex(uint32_t v)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

json leavesToJson(const CpuidData& data)
{
    json a = json::array();
    for (const auto& l : data.leaves())
        a.push_back({{"function", hex(l.function)}, {"index", l.index}, {"eax", hex(l.eax)}, {"ebx", hex(l.ebx)},
                     {"ecx", hex(l.ecx)}, {"edx", hex(l.edx)}});
    return a;
}

}  // namespace

KvmInfo parseRecordedKvm(const std::string& text)
{
    json doc = parseJsonObject(text);
    KvmInfo info;
    info.recorded = true;
    try {
        info.apiVersion = doc.value("api_version", 0);
        info.nrVcpus = doc.value("nr_vcpus", 0);
        info.maxVcpus = doc.value("max_vcpus", 0);
        info.supported = CpuidData(parseLeaves(doc.value("supported_cpuid", json()), "supported_cpuid"));
        info.host = CpuidData(parseLeaves(doc.value("host_cpuid", json()), "host_cpuid"));
    } catch (const json::exception& e) {
        throw std::runtime_error(e.what());
    }
    if (info.apiVersion != KVM_API_VERSION)
        throw std::runtime_error("api_version " + std::to_string(info.apiVersion) + ", expected " +
                                 std::to_string(KVM_API_VERSION));
    if (info.supported.empty())
        throw std::runtime_error("supported_cpuid is empty");
    info.available = true;
    return info;
}

std::string kvmInfoToJson(const KvmInfo& info)
{
    json doc = {{"api_version", info.apiVersion},
                {"nr_vcpus", info.nrVcpus},
                {"max_vcpus", info.maxVcpus},
                {"supported_cpuid", leavesToJson(info.supported)},
                {"host_cpuid", leavesToJson(info.host)}};
    return doc.dump(1) + "\n";
}

KvmInfo probeKvm(const HostRoot& root)
{
    const std::string dev = root.path("/dev/kvm");
    auto st = root.stat("/dev/kvm");
    if (!st) {
        KvmInfo info;
        info.error = dev + ": " + std::strerror(errno);
        return info;
    }
    if (S_ISCHR(st->st_mode))
        return probeLiveKvm(dev);
    auto text = root.read("/dev/kvm");
    try {
        if (!text)
            throw std::runtime_error(std::strerror(errno));
        return parseRecordedKvm(*text);
    } catch (const std::exception& e) {
        KvmInfo info;
        info.error = dev + ": recorded KVM answers: " + e.what();
        return info;
    }
}

}  // namespace mica::caps
