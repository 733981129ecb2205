// CPUID leaves as KVM_GET_SUPPORTED_CPUID (or the cpuid instruction) reports them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mica::caps {

struct CpuidLeaf {
    uint32_t function = 0;
    uint32_t index = 0;
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

class CpuidData {
public:
    CpuidData() = default;
    explicit CpuidData(std::vector<CpuidLeaf> leaves) : leaves_(std::move(leaves)) {}

    // The leaf for (function, index); leaves without subleaves match any index 0 query.
    const CpuidLeaf* find(uint32_t function, uint32_t index = 0) const
    {
        for (const auto& l : leaves_)
            if (l.function == function && l.index == index)
                return &l;
        return nullptr;
    }
    CpuidLeaf get(uint32_t function, uint32_t index = 0) const
    {
        const CpuidLeaf* l = find(function, index);
        return l ? *l : CpuidLeaf{function, index};
    }
    bool empty() const { return leaves_.empty(); }
    const std::vector<CpuidLeaf>& leaves() const { return leaves_; }

    // "GenuineIntel", "AuthenticAMD", ... from leaf 0; empty without it.
    std::string vendorString() const
    {
        const CpuidLeaf* l = find(0);
        if (!l)
            return {};
        std::string s;
        for (uint32_t r : {l->ebx, l->edx, l->ecx})
            for (int i = 0; i < 4; ++i)
                s.push_back(static_cast<char>((r >> (8 * i)) & 0xff));
        return s;
    }

    struct Signature {
        unsigned family = 0, model = 0, stepping = 0;
    };
    // Family/model/stepping from leaf 1 EAX, with the extended fields folded in the way
    // the SDM and APM describe (libvirt's cpu_map signatures use the same numbers).
    Signature signature() const
    {
        uint32_t eax = get(1).eax;
        unsigned baseFamily = (eax >> 8) & 0xf, baseModel = (eax >> 4) & 0xf;
        Signature s;
        s.stepping = eax & 0xf;
        s.family = baseFamily == 0xf ? baseFamily + ((eax >> 20) & 0xff) : baseFamily;
        s.model = (baseFamily == 6 || baseFamily == 0xf) ? (((eax >> 16) & 0xf) << 4) + baseModel : baseModel;
        return s;
    }

private:
    std::vector<CpuidLeaf> leaves_;
};

}  // namespace mica::caps
