#include "CpuidModel.h"

#include <algorithm>
#include <set>

namespace mica::caps {

DecodedCpu decodeCpu(const CpuMap& map, const CpuidData& data)
{
    return decodeFeatures(map, map.vendorName(data.vendorString()), data.signature(), map.presentFeatures(data));
}

DecodedCpu decodeFeatures(const CpuMap& map, const std::string& vendor, CpuidData::Signature signature,
                          std::vector<std::string> present)
{
    DecodedCpu cpu;
    cpu.vendor = vendor;
    cpu.signature = signature;
    cpu.present = std::move(present);
    const std::set<std::string> have(cpu.present.begin(), cpu.present.end());

    struct Candidate {
        const CpuModelDef* model = nullptr;
        bool signatureMatch = false;
        unsigned score = 0;
        std::vector<std::string> extra, missing;
    };
    std::optional<Candidate> best;
    const auto& models = map.models();
    for (auto it = models.rbegin(); it != models.rend(); ++it) {
        const CpuModelDef& m = *it;
        if (!m.decodeHost)
            continue;
        if (!m.vendor.empty() && m.vendor != cpu.vendor)
            continue;
        Candidate c;
        c.model = &m;
        for (const auto& s : m.signatures)
            if (s.family == cpu.signature.family && s.model == cpu.signature.model)
                c.signatureMatch = true;
        std::set<std::string> inModel;
        unsigned penalty = 2;
        for (const auto& f : m.features) {
            const CpuFeatureDef* def = map.feature(f);
            if (!def || def->cpuid.empty())
                continue;  // MSR features are not probed; they neither help nor hurt
            inModel.insert(f);
            if (!have.count(f)) {
                c.missing.push_back(f);
                c.score += penalty++;
            }
        }
        for (const auto& f : cpu.present)
            if (!inModel.count(f))
                c.extra.push_back(f);
        c.score += static_cast<unsigned>(c.extra.size());
        bool better = !best || (c.signatureMatch && !best->signatureMatch) ||
                      (c.signatureMatch == best->signatureMatch && c.score < best->score);
        if (better)
            best = std::move(c);
    }
    if (best) {
        cpu.model = best->model->name;
        cpu.extra = std::move(best->extra);
        cpu.missing = std::move(best->missing);
    }
    return cpu;
}

std::vector<CustomModel> customModels(const CpuMap& map, const std::vector<std::string>& present)
{
    const std::set<std::string> have(present.begin(), present.end());
    std::vector<CustomModel> out;
    for (const auto& m : map.models()) {
        CustomModel c{m.name, m.vendor.empty() ? "unknown" : m.vendor, true};
        for (const auto& f : m.features) {
            const CpuFeatureDef* def = map.feature(f);
            if (def && !def->cpuid.empty() && !have.count(f))
                c.usable = false;
        }
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace mica::caps
