// Intel SGX as the host offers it to KVM guests (virtual EPC through /dev/sgx_vepc).
#pragma once

#include <cstdint>
#include <vector>

#include "HostRoot.h"
#include "KvmProbe.h"

namespace mica::caps {

struct SgxSection {
    unsigned node = 0;  // index of the EPC section, which is what QEMU and libvirt report
    uint64_t sizeKiB = 0;
};

struct SgxInfo {
    bool device = false;  // /dev/sgx_vepc
    bool cpuSgx = false, flc = false, sgx1 = false, sgx2 = false;
    std::vector<SgxSection> sections;
    uint64_t totalKiB = 0;

    bool supported() const { return device && cpuSgx && sgx1 && totalKiB > 0; }
};

SgxInfo probeSgx(const HostRoot& root, const KvmInfo& kvm);

}  // namespace mica::caps
