#include "Kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <memory>

#include "Error.h"
#include "Vm.h"
#include "i18n.h"

namespace mica::kvm {

Kvm::Kvm(const std::string& path, UniqueFd opened)
    : fd_(opened ? std::move(opened) : UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC)))
{
    if (!fd_)
        throw systemError(path);
    int version = apiVersion();
    if (version != KVM_API_VERSION)
        throw Error(path + ": " + _("unsupported KVM API version ") + std::to_string(version));
}

int Kvm::apiVersion() const
{
    return ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
}

int Kvm::checkExtension(long cap) const
{
    int ret = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return ret < 0 ? 0 : ret;
}

size_t Kvm::vcpuMmapSize() const
{
    int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0)
        throw systemError("KVM_GET_VCPU_MMAP_SIZE");
    return static_cast<size_t>(size);
}

// Both list ioctls take a header with a count followed by a flexible array; KVM answers
// E2BIG when the array is too small, so grow until it fits.
template <typename Header, typename Entry>
static std::vector<Entry> getList(int fd, unsigned long request, const char* name, uint32_t Header::*count)
{
    for (uint32_t n = 64;; n *= 2) {
        size_t bytes = sizeof(Header) + n * sizeof(Entry);
        auto buffer = std::make_unique<uint64_t[]>((bytes + 7) / 8);
        auto* header = reinterpret_cast<Header*>(buffer.get());
        header->*count = n;
        if (::ioctl(fd, request, header) == 0) {
            auto* first = reinterpret_cast<const Entry*>(reinterpret_cast<const char*>(header) + sizeof(Header));
            return std::vector<Entry>(first, first + header->*count);
        }
        if (errno != E2BIG || n > 65536)
            throw systemError(name);
    }
}

std::vector<kvm_cpuid_entry2> Kvm::supportedCpuid() const
{
    return getList<kvm_cpuid2, kvm_cpuid_entry2>(fd_.get(), KVM_GET_SUPPORTED_CPUID,
                                                 "KVM_GET_SUPPORTED_CPUID", &kvm_cpuid2::nent);
}

std::vector<uint32_t> Kvm::msrIndexList() const
{
    return getList<kvm_msr_list, uint32_t>(fd_.get(), KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST",
                                           &kvm_msr_list::nmsrs);
}

unsigned Kvm::maxVcpus() const
{
    int max = checkExtension(KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = checkExtension(KVM_CAP_NR_VCPUS);
    return max > 0 ? static_cast<unsigned>(max) : 4;  // KVM's documented floor
}

Vm Kvm::createVm() const
{
    int fd = ::ioctl(fd_.get(), KVM_CREATE_VM, 0);
    if (fd < 0)
        throw systemError("KVM_CREATE_VM");
    return Vm(UniqueFd(fd), vcpuMmapSize());
}

}  // namespace mica::kvm
