#include "Tuning.h"

#include <libvirt/libvirt.h>

#include <cerrno>
#include <cstdlib>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "i18n.h"

namespace mica::conf {

// cgroup v2 takes weights of 1-10000 (default 100); libvirt's schema keeps the blkio
// weight within 100-1000. The global period and quota (in µs, libvirt's limits) bound the
// whole VMM: its cgroup's cpu.max.
const std::vector<Tunable> kTunables = {
    {TuneGroup::Scheduler, VIR_DOMAIN_SCHEDULER_CPU_SHARES, "cputune", "shares", &TuneDef::cpuShares,
     false, ParamType::ULLong, 1, 10000, 100, "cpu", "cpu.weight"},
    {TuneGroup::Scheduler, VIR_DOMAIN_SCHEDULER_GLOBAL_PERIOD, "cputune", "global_period", &TuneDef::globalPeriod,
     false, ParamType::ULLong, 1000, 1000000, 100000, "cpu", "cpu.max"},
    {TuneGroup::Scheduler, VIR_DOMAIN_SCHEDULER_GLOBAL_QUOTA, "cputune", "global_quota", &TuneDef::globalQuota,
     false, ParamType::LLong, 1000, 17592186044415ull, ~0ull, "cpu", "cpu.max"},
    {TuneGroup::Memory, VIR_DOMAIN_MEMORY_HARD_LIMIT, "memtune", "hard_limit", &TuneDef::hardLimitKiB,
     true, ParamType::ULLong, 1, kMemoryUnlimited, kMemoryUnlimited, "memory", "memory.max"},
    {TuneGroup::Memory, VIR_DOMAIN_MEMORY_SOFT_LIMIT, "memtune", "soft_limit", &TuneDef::softLimitKiB,
     true, ParamType::ULLong, 1, kMemoryUnlimited, kMemoryUnlimited, "memory", "memory.high"},
    {TuneGroup::Memory, VIR_DOMAIN_MEMORY_SWAP_HARD_LIMIT, "memtune", "swap_hard_limit", &TuneDef::swapHardLimitKiB,
     true, ParamType::ULLong, 1, kMemoryUnlimited, kMemoryUnlimited, "memory", "memory.swap.max"},
    {TuneGroup::Blkio, VIR_DOMAIN_BLKIO_WEIGHT, "blkiotune", "weight", &TuneDef::blkioWeight,
     false, ParamType::UInt, 100, 1000, 100, "io", "io.weight"},
};

void checkTunable(const Tunable& t, uint64_t value)
{
    if (value < t.min || value > t.max)
        throw ConfError(VIR_ERR_INVALID_ARG,
                        subst(_("%1 must be between %2 and %3, not %4"),
                              {t.param, std::to_string(t.min), std::to_string(t.max), std::to_string(value)}));
}

std::string cgroupValue(const Tunable& t, const TuneDef& tune)
{
    if (std::string(t.file) == "cpu.max")
        return (tune.globalQuota ? std::to_string(*tune.globalQuota) : "max") + " " +
               std::to_string(tune.globalPeriod.value_or(100000));
    uint64_t value = (tune.*t.field).value_or(t.unset);
    if (t.kib)
        return value >= kMemoryUnlimited ? "max" : std::to_string(value * 1024);
    return std::to_string(value);
}

std::set<unsigned> parseCpuset(const std::string& text, const std::string& what)
{
    std::set<unsigned> cpus, excluded;
    auto bad = [&] { invalidXml(subst(_("%1: invalid cpuset '%2'"), {what, text})); };
    auto number = [&](const std::string& s) {
        if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
            bad();
        unsigned v = static_cast<unsigned>(std::stoul(s));
        if (v >= 1024)   // CPU_SETSIZE: what a VMM thread can be pinned to
            bad();
        return v;
    };
    size_t at = 0;
    while (at <= text.size()) {
        size_t comma = text.find(',', at);
        std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        bool negate = !part.empty() && part[0] == '^';
        if (negate)
            part.erase(0, 1);
        size_t dash = part.find('-');
        unsigned first = number(part.substr(0, dash));
        unsigned last = dash == std::string::npos ? first : number(part.substr(dash + 1));
        if (last < first)
            bad();
        for (unsigned c = first; c <= last; ++c)
            (negate ? excluded : cpus).insert(c);
        if (comma == std::string::npos)
            break;
        at = comma + 1;
    }
    for (unsigned c : excluded)
        cpus.erase(c);
    if (cpus.empty())
        bad();
    return cpus;
}

std::string formatCpuset(const std::set<unsigned>& cpus)
{
    std::string out;
    for (auto it = cpus.begin(); it != cpus.end();) {
        unsigned first = *it, last = first;
        while (++it != cpus.end() && *it == last + 1)
            ++last;
        out += (out.empty() ? "" : ",") + std::to_string(first) + (last > first ? "-" + std::to_string(last) : "");
    }
    return out;
}

namespace {

void parsePins(ElementReader& cputune, DomainDef& def)
{
    for (xmlNode* node : cputune.children("vcpupin")) {
        ElementReader pin(node, "cputune vcpupin");
        auto vcpu = pin.number("vcpu");
        if (!vcpu)
            invalidXml(_("cputune vcpupin: missing vcpu"));
        if (*vcpu >= def.vcpusMax)
            invalidXml(subst(_("cputune vcpupin: vCPU %1 does not exist (the domain has %2)"),
                             {std::to_string(*vcpu), std::to_string(def.vcpusMax)}));
        auto cpus = parseCpuset(pin.requireAttr("cpuset"), "cputune vcpupin");
        if (!def.tune.vcpuPin.emplace(static_cast<unsigned>(*vcpu), std::move(cpus)).second)
            invalidXml(subst(_("cputune: vCPU %1 is pinned twice"), {std::to_string(*vcpu)}));
        pin.finish();
    }
    if (xmlNode* node = cputune.child("emulatorpin")) {
        ElementReader pin(node, "cputune emulatorpin");
        def.tune.emulatorPin = parseCpuset(pin.requireAttr("cpuset"), "cputune emulatorpin");
        pin.finish();
    }
}

}  // namespace

void parseTuning(ElementReader& domain, DomainDef& def)
{
    TuneDef& tune = def.tune;
    for (const char* parent : {"cputune", "memtune", "blkiotune"}) {
        xmlNode* node = domain.child(parent);
        if (!node)
            continue;
        ElementReader el(node, parent);
        if (std::string(parent) == "cputune")
            parsePins(el, def);
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
                if (t.type == ParamType::LLong && text == "-1") {   // no limit: as if not given
                    value.finish();
                    continue;
                }
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
    auto open = [&] {
        if (!node)
            node = xmlNewChild(domain, nullptr, BAD_CAST parent, nullptr);
        return node;
    };
    for (const auto& t : kTunables) {
        if (std::string(t.parent) != parent || !(tune.*t.field))
            continue;
        xmlNode* value = xmlNewChild(open(), nullptr, BAD_CAST t.element, BAD_CAST std::to_string(*(tune.*t.field)).c_str());
        if (t.kib)
            xmlSetProp(value, BAD_CAST "unit", BAD_CAST "KiB");
    }
    if (std::string(parent) != "cputune")
        return;
    for (const auto& [vcpu, cpus] : tune.vcpuPin) {
        xmlNode* pin = xmlNewChild(open(), nullptr, BAD_CAST "vcpupin", nullptr);
        xmlSetProp(pin, BAD_CAST "vcpu", BAD_CAST std::to_string(vcpu).c_str());
        xmlSetProp(pin, BAD_CAST "cpuset", BAD_CAST formatCpuset(cpus).c_str());
    }
    if (!tune.emulatorPin.empty())
        xmlSetProp(xmlNewChild(open(), nullptr, BAD_CAST "emulatorpin", nullptr), BAD_CAST "cpuset",
                   BAD_CAST formatCpuset(tune.emulatorPin).c_str());
}

}  // namespace mica::conf
