#include "SgxProbe.h"

namespace mica::caps {

SgxInfo probeSgx(const HostRoot& root, const KvmInfo& kvm)
{
    SgxInfo s;
    s.device = root.exists("/dev/sgx_vepc");
    if (!kvm.available)
        return s;
    // KVM's leaves: they say what a guest may be given, which is the question here.
    const CpuidData& c = kvm.supported;
    s.cpuSgx = c.get(7, 0).ebx & (1u << 2);
    s.flc = c.get(7, 0).ecx & (1u << 30);
    uint32_t caps = c.get(0x12, 0).eax;
    s.sgx1 = caps & 1u;
    s.sgx2 = caps & 2u;
    if (!s.cpuSgx)
        return s;
    // Subleaves 2.. describe EPC sections until one whose type (EAX[3:0]) is not 1.
    for (uint32_t i = 0; i < 8; ++i) {
        const CpuidLeaf* l = kvm.host.find(0x12, i + 2);
        if (!l)
            l = c.find(0x12, i + 2);
        if (!l || (l->eax & 0xf) != 1)
            break;
        uint64_t bytes = (static_cast<uint64_t>(l->ecx) & 0xfffff000u) +
                         ((static_cast<uint64_t>(l->edx) & 0xfffffu) << 32);
        s.sections.push_back({i, bytes / 1024});
        s.totalKiB += bytes / 1024;
    }
    return s;
}

}  // namespace mica::caps
