// AMD SEV, SEV-ES and SEV-SNP as the host offers them to KVM guests.
#pragma once

#include "HostRoot.h"
#include "KvmProbe.h"

namespace mica::caps {

struct SevInfo {
    bool kvmSev = false, kvmSevEs = false, kvmSevSnp = false;  // kvm_amd parameters
    bool device = false;                                       // /dev/sev
    bool cpuSev = false, cpuSevEs = false, cpuSevSnp = false;  // CPUID 0x8000001F EAX
    unsigned cbitpos = 0, reducedPhysBits = 0;                 // CPUID 0x8000001F EBX
    unsigned maxGuests = 0, maxESGuests = 0;                   // from the ASID ranges

    // libvirt's gate (kvm_amd sev parameter and /dev/sev) plus the CPU saying so.
    bool supported() const { return kvmSev && device && cpuSev && cbitpos > 0; }
    bool esSupported() const { return supported() && kvmSevEs && cpuSevEs; }
    bool snpSupported() const { return supported() && kvmSevSnp && cpuSevSnp; }
};

SevInfo probeSev(const HostRoot& root, const KvmInfo& kvm);

}  // namespace mica::caps
