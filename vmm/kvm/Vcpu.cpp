#include "Vcpu.h"

#include <sys/ioctl.h>

#include <memory>
#include <string>

#include "Error.h"

namespace mica::kvm {

Vcpu::Vcpu(UniqueFd fd, unsigned id, size_t mmapSize) : fd_(std::move(fd)), id_(id)
{
    void* addr = ::mmap(nullptr, mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (addr == MAP_FAILED)
        throw systemError("mmap of kvm_run for vCPU " + std::to_string(id));
    run_ = MappedRegion(addr, mmapSize);
}

bool Vcpu::run()
{
    if (::ioctl(fd_.get(), KVM_RUN, 0) == 0)
        return true;
    if (errno == EINTR || errno == EAGAIN)
        return false;
    throw systemError("KVM_RUN on vCPU " + std::to_string(id_));
}

// Every get/set pair is one ioctl with one struct; name the ioctl in the error.
template <typename T>
static T get(int fd, unsigned long request, const char* name)
{
    T value{};
    if (::ioctl(fd, request, &value) < 0)
        throw systemError(name);
    return value;
}

template <typename T>
static void set(int fd, unsigned long request, const char* name, const T& value)
{
    if (::ioctl(fd, request, &value) < 0)
        throw systemError(name);
}

kvm_regs Vcpu::regs() const { return get<kvm_regs>(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS"); }
void Vcpu::setRegs(const kvm_regs& v) { set(fd_.get(), KVM_SET_REGS, "KVM_SET_REGS", v); }
kvm_sregs Vcpu::sregs() const { return get<kvm_sregs>(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS"); }
void Vcpu::setSregs(const kvm_sregs& v) { set(fd_.get(), KVM_SET_SREGS, "KVM_SET_SREGS", v); }
kvm_fpu Vcpu::fpu() const { return get<kvm_fpu>(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU"); }
void Vcpu::setFpu(const kvm_fpu& v) { set(fd_.get(), KVM_SET_FPU, "KVM_SET_FPU", v); }
kvm_lapic_state Vcpu::lapic() const { return get<kvm_lapic_state>(fd_.get(), KVM_GET_LAPIC, "KVM_GET_LAPIC"); }
void Vcpu::setLapic(const kvm_lapic_state& v) { set(fd_.get(), KVM_SET_LAPIC, "KVM_SET_LAPIC", v); }
kvm_mp_state Vcpu::mpState() const { return get<kvm_mp_state>(fd_.get(), KVM_GET_MP_STATE, "KVM_GET_MP_STATE"); }
void Vcpu::setMpState(const kvm_mp_state& v) { set(fd_.get(), KVM_SET_MP_STATE, "KVM_SET_MP_STATE", v); }
kvm_xsave Vcpu::xsave() const { return get<kvm_xsave>(fd_.get(), KVM_GET_XSAVE, "KVM_GET_XSAVE"); }
void Vcpu::setXsave(const kvm_xsave& v) { set(fd_.get(), KVM_SET_XSAVE, "KVM_SET_XSAVE", v); }
kvm_xcrs Vcpu::xcrs() const { return get<kvm_xcrs>(fd_.get(), KVM_GET_XCRS, "KVM_GET_XCRS"); }
void Vcpu::setXcrs(const kvm_xcrs& v) { set(fd_.get(), KVM_SET_XCRS, "KVM_SET_XCRS", v); }
kvm_vcpu_events Vcpu::events() const { return get<kvm_vcpu_events>(fd_.get(), KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS"); }
void Vcpu::setEvents(const kvm_vcpu_events& v) { set(fd_.get(), KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", v); }
kvm_debugregs Vcpu::debugRegs() const { return get<kvm_debugregs>(fd_.get(), KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS"); }
void Vcpu::setDebugRegs(const kvm_debugregs& v) { set(fd_.get(), KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", v); }

void Vcpu::setCpuid(const std::vector<kvm_cpuid_entry2>& entries)
{
    size_t bytes = sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2);
    auto buffer = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buffer.get());
    cpuid->nent = static_cast<uint32_t>(entries.size());
    std::copy(entries.begin(), entries.end(), reinterpret_cast<kvm_cpuid_entry2*>(cpuid + 1));
    if (::ioctl(fd_.get(), KVM_SET_CPUID2, cpuid) < 0)
        throw systemError("KVM_SET_CPUID2");
}

// kvm_msrs is a header followed by kvm_msr_entry[nmsrs]; both ioctls return how many
// entries KVM processed, stopping at the first it refused.
static std::unique_ptr<uint64_t[]> msrBuffer(size_t count, kvm_msrs** out)
{
    size_t bytes = sizeof(kvm_msrs) + count * sizeof(kvm_msr_entry);
    auto buffer = std::make_unique<uint64_t[]>((bytes + 7) / 8);
    *out = reinterpret_cast<kvm_msrs*>(buffer.get());
    (*out)->nmsrs = static_cast<uint32_t>(count);
    return buffer;
}

void Vcpu::setMsrs(const std::vector<std::pair<uint32_t, uint64_t>>& values)
{
    auto refused = trySetMsrs(values);
    if (!refused.empty())
        throw Error("KVM_SET_MSRS: MSR " + std::to_string(refused.front()) + " was refused");
}

std::vector<uint32_t> Vcpu::trySetMsrs(const std::vector<std::pair<uint32_t, uint64_t>>& values)
{
    std::vector<uint32_t> refused;
    for (size_t start = 0; start < values.size();) {
        kvm_msrs* msrs = nullptr;
        auto buffer = msrBuffer(values.size() - start, &msrs);
        for (size_t i = start; i < values.size(); ++i) {
            msrs->entries[i - start].index = values[i].first;
            msrs->entries[i - start].data = values[i].second;
        }
        int done = ::ioctl(fd_.get(), KVM_SET_MSRS, msrs);
        if (done < 0)
            throw systemError("KVM_SET_MSRS");
        start += static_cast<size_t>(done);
        if (start < values.size())
            refused.push_back(values[start++].first);
    }
    return refused;
}

std::vector<std::pair<uint32_t, uint64_t>> Vcpu::msrs(const std::vector<uint32_t>& indices) const
{
    kvm_msrs* msrs = nullptr;
    auto buffer = msrBuffer(indices.size(), &msrs);
    for (size_t i = 0; i < indices.size(); ++i)
        msrs->entries[i].index = indices[i];
    int done = ::ioctl(fd_.get(), KVM_GET_MSRS, msrs);
    if (done < 0)
        throw systemError("KVM_GET_MSRS");
    std::vector<std::pair<uint32_t, uint64_t>> result;
    for (int i = 0; i < done; ++i)
        result.emplace_back(msrs->entries[i].index, msrs->entries[i].data);
    return result;
}

void Vcpu::injectNmi()
{
    if (::ioctl(fd_.get(), KVM_NMI) < 0)
        throw systemError("KVM_NMI");
}

void Vcpu::kvmclockCtrl()
{
    // EINVAL means the guest has no kvmclock set up yet: nothing to tell it.
    if (::ioctl(fd_.get(), KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
        throw systemError("KVM_KVMCLOCK_CTRL");
}

}  // namespace mica::kvm
