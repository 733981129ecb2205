#include "SevProbe.h"

namespace mica::caps {

namespace {

// kvm_amd writes booleans as Y/N (older kernels: 1/0).
bool paramEnabled(const HostRoot& root, const char* name)
{
    auto v = root.readLine(std::string("/sys/module/kvm_amd/parameters/") + name);
    return v && !v->empty() && (v->front() == '1' || v->front() == 'Y' || v->front() == 'y');
}

}  // namespace

SevInfo probeSev(const HostRoot& root, const KvmInfo& kvm)
{
    SevInfo s;
    s.kvmSev = paramEnabled(root, "sev");
    s.kvmSevEs = paramEnabled(root, "sev_es");
    s.kvmSevSnp = paramEnabled(root, "sev_snp");
    s.device = root.exists("/dev/sev");
    if (!kvm.available)
        return s;
    // The host leaf, not KVM's: it describes the memory encryption hardware itself.
    CpuidLeaf l = kvm.hostLeaf(0x8000001f);
    s.cpuSev = l.eax & (1u << 1);
    s.cpuSevEs = l.eax & (1u << 3);
    s.cpuSevSnp = l.eax & (1u << 4);
    s.cbitpos = l.ebx & 0x3f;
    s.reducedPhysBits = (l.ebx >> 6) & 0x3f;
    // ECX is the highest ASID usable by SEV guests, EDX the lowest one that is not
    // SEV-ES: ASIDs 1..EDX-1 are for SEV-ES (and SNP) guests, EDX..ECX for plain SEV.
    if (l.ecx && l.edx) {
        s.maxGuests = l.ecx >= l.edx ? l.ecx - l.edx + 1 : 0;
        s.maxESGuests = s.kvmSevEs && s.cpuSevEs ? l.edx - 1 : 0;
    }
    return s;
}

}  // namespace mica::caps
