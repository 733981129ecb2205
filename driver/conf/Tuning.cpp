#include "Tuning.h"

#include <libvirt/libvirt.h>

#include <cerrno>
#include <cstdlib>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "i18n.h"

namespace mica::conf {

// cgroup v2 takes weights of 1-10000 (default 100); libvirt's schema keeps the blkio
// weight within 100-1000.
const std::vector<Tunable> kTunables = {
    {TuneGroup::Scheduler, VIR_DOMAIN_SCHEDULER_CPU_SHARES, "cputune", "shares", &TuneDef::cpuShares,
     false, false, 1, 10000, 100, "cpu", "cpu.weight"},
    {TuneGroup::Memory, VIR_DOMAIN_MEMORY_HARD_LIMIT, "memtune", "hard_limit", &TuneDef::hardLimitKiB,
     true, false, 1, kMemoryUnlimited, kMemoryUnlimited, "memory", "memory.max"},
    {TuneGroup::Memory, VIR_DOMAIN_MEMORY_SOFT_LIMIT, "memtune", "soft_limit", &TuneDef::softLimitKiB,
     true, false, 1, kMemoryUnlimited, kMemoryUnlimited, "memory", "memory.high"},
    {TuneGroup::Memory, VIR_DOMAIN_MEMORY_SWAP_HARD_LIMIT, "memtune", "swap_hard_limit", &TuneDef::swapHardLimitKiB,
     true, false, 1, kMemoryUnlimited, kMemoryUnlimited, "memory", "memory.swap.max"},
    {TuneGroup::Blkio, VIR_DOMAIN_BLKIO_WEIGHT, "blkiotune", "weight", &TuneDef::blkioWeight,
     false, true, 100, 1000, 100, "io", "io.weight"},
};

void checkTunable(const Tunable& t, uint64_t value)
{
    if (value < t.min || value > t.max)
        throw ConfError(VIR_ERR_INVALID_ARG,
                        subst(_("%1 must be between %2 and %3, not %4"),
                              {t.param, std::to_string(t.min), std::to_string(t.max), std::to_string(value)}));
}

std::string cgroupValue(const Tunable& t, uint64_t value)
{
    if (t.kib)
        return value >= kMemoryUnlimited ? "max" : std::to_string(value * 1024);
    return std::to_string(value);
}

void parseTuning(ElementReader& domain, TuneDef& tune)
{
    for (const char* parent : {"cputune", "memtune", "blkiotune"}) {
        xmlNode* node = domain.child(parent);
        if (!node)
            continue;
        ElementReader el(node, parent);
        for (const auto& t : kTunables) {
            if (std::string(t.parent) != parent)
                continue;
            xmlNode* child = el.child(t.element);
            if (!child)
                continue;
            ElementReader value(child, std::string(parent) + " " + t.element);
            uint64_t v = 0;
            if (t.kib) {
                v = detail::parseMemoryKiB(value);
            } else {
                std::string text = value.text();
                char* end = nullptr;
                errno = 0;
                unsigned long long n = std::strtoull(text.c_str(), &end, 10);
                if (text.empty() || text[0] == '-' || errno || *end)
                    invalidXml(subst(_("%1: invalid number '%2'"), {value.context(), text}));
                v = n;
            }
            value.finish();
            try {
                checkTunable(t, v);
            } catch (const ConfError& e) {
                invalidXml(std::string(parent) + ": " + e.what());
            }
            tune.*t.field = v;
        }
        for (xmlNode* c : el.remainingChildren())
            unsupported(subst(_("<%1><%2> is not supported by mica"), {parent, nodeName(c)}));
        el.finish();
    }
}

void formatTuning(const TuneDef& tune, const char* parent, xmlNode* domain)
{
    xmlNode* node = nullptr;
    for (const auto& t : kTunables) {
        if (std::string(t.parent) != parent || !(tune.*t.field))
            continue;
        if (!node)
            node = xmlNewChild(domain, nullptr, BAD_CAST parent, nullptr);
        xmlNode* value = xmlNewChild(node, nullptr, BAD_CAST t.element, BAD_CAST std::to_string(*(tune.*t.field)).c_str());
        if (t.kib)
            xmlSetProp(value, BAD_CAST "unit", BAD_CAST "KiB");
    }
}

}  // namespace mica::conf
