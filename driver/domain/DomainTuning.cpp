// virsh schedinfo, memtune and blkiotune (the tunables of conf/Tuning.h: the VMM's
// cgroup), vcpupin and emulatorpin (thread affinities): read from and written to the
// live domain and its persistent definition, as VIR_DOMAIN_AFFECT_LIVE / _CONFIG say.
#include <libvirt/libvirt.h>

#include "Cgroup.h"
#include "DomainManager.h"
#include "ManagerSupport.h"
#include "ThreadAffinity.h"
#include "Tuning.h"
#include "i18n.h"

namespace mica::domain {

std::vector<rpc::TypedParam> DomainManager::tuneParameters(const rpc::DomainRef& dom, conf::TuneGroup group,
                                                           unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_TYPED_PARAM_STRING_OKAY);
    Domain& d = find(dom);
    const conf::DomainDef& def = affectsLive(d, flags) ? d.live : d.persistentDef();
    std::vector<rpc::TypedParam> out;
    for (const auto& t : conf::kTunables) {
        if (t.group != group)
            continue;
        uint64_t v = (def.tune.*t.field).value_or(t.unset);
        switch (t.type) {
        case conf::ParamType::UInt: out.push_back({t.param, static_cast<std::uint32_t>(v)}); break;
        case conf::ParamType::ULLong: out.push_back({t.param, v}); break;
        case conf::ParamType::LLong: out.push_back({t.param, static_cast<std::int64_t>(v)}); break;   // unset: -1
        }
    }
    return out;
}

void DomainManager::applyTuning(const conf::TuneDef& tune, const std::string& cgroup) const
{
    // An LLong one may have gone back to "no limit": its file is written either way.
    for (const auto& t : conf::kTunables)
        if (tune.*t.field || t.type == conf::ParamType::LLong)
            process::writeCgroupFile(cgroup, t.file, conf::cgroupValue(t, tune));
}

void DomainManager::editDefinition(Domain& d, const std::function<void(conf::DomainDef&)>& edit)
{
    conf::DomainDef changed = d.persistentDef();
    edit(changed);
    try {
        store_.saveConfig(changed);
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
    d.persistentDef() = std::move(changed);
}

void DomainManager::checkTuningCanApply(const conf::TuneDef& tune) const
{
    if (tune.needsCgroup() && !options_.confinement)
        fail(VIR_ERR_CONFIG_UNSUPPORTED,
             _("<cputune>, <memtune> and <blkiotune> need a cgroup per VMM: set vmm_uids or vmm_user in virtmicad.conf"));
}

void DomainManager::setTuneParameters(const rpc::DomainRef& dom, conf::TuneGroup group,
                                      const std::vector<rpc::TypedParam>& params, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    Domain& d = find(dom);
    bool live = affectsLive(d, flags);
    if (!live && !d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("a transient domain has no persistent definition to change"));
    conf::TuneDef tune = live ? d.live.tune : d.persistentDef().tune;
    for (const auto& p : params) {
        const conf::Tunable* t = nullptr;
        for (const auto& candidate : conf::kTunables)
            if (candidate.group == group && p.field == candidate.param)
                t = &candidate;
        if (!t)
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("parameter '%1' is not supported by mica"), {p.field}));
        uint64_t v = 0;
        if (t->type == conf::ParamType::UInt && std::holds_alternative<std::uint32_t>(p.value))
            v = std::get<std::uint32_t>(p.value);
        else if (t->type == conf::ParamType::ULLong && std::holds_alternative<std::uint64_t>(p.value))
            v = std::get<std::uint64_t>(p.value);
        else if (t->type == conf::ParamType::LLong && std::holds_alternative<std::int64_t>(p.value))
            v = static_cast<uint64_t>(std::get<std::int64_t>(p.value));
        else
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("parameter '%1' has the wrong type"), {p.field}));
        if (t->type == conf::ParamType::LLong && std::get<std::int64_t>(p.value) == -1) {   // no limit
            (tune.*t->field).reset();
            continue;
        }
        try {
            conf::checkTunable(*t, v);
        } catch (const conf::ConfError& e) {
            failConf(e);
        }
        tune.*t->field = v;
    }
    if (live) {
        checkTuningCanApply(tune);
        try {
            applyTuning(tune, cgroupOf(d.live));
        } catch (const std::exception& e) {
            fail(VIR_ERR_OPERATION_FAILED, e.what());
        }
        d.live.tune = tune;
        saveStatus(d);
        return;
    }
    editDefinition(d, [&](conf::DomainDef& def) { def.tune = tune; });
}

// --- pins --------------------------------------------------------------------------

std::vector<std::set<unsigned>> DomainManager::vcpuPins(const rpc::DomainRef& dom, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    Domain& d = find(dom);
    bool live = affectsLive(d, flags);
    const conf::DomainDef& def = live ? d.live : d.persistentDef();
    std::vector<std::set<unsigned>> pins;
    auto all = process::usableCpus();
    for (unsigned v = 0; v < (live ? def.vcpusCurrent : def.vcpusMax); ++v) {
        auto it = def.tune.vcpuPin.find(v);
        pins.push_back(it != def.tune.vcpuPin.end() ? it->second : all);
    }
    return pins;
}

std::set<unsigned> DomainManager::emulatorPin(const rpc::DomainRef& dom, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    Domain& d = find(dom);
    const conf::DomainDef& def = affectsLive(d, flags) ? d.live : d.persistentDef();
    return def.tune.emulatorPin.empty() ? process::usableCpus() : def.tune.emulatorPin;
}

namespace {

void checkCpus(const std::set<unsigned>& cpus)
{
    auto usable = process::usableCpus();
    if (cpus.empty())
        fail(VIR_ERR_INVALID_ARG, _("the cpumap names no host CPU"));
    for (unsigned c : cpus)
        if (!usable.count(c))
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("host CPU %1 is not one this host lets mica use (%2)"),
                                                  {std::to_string(c), conf::formatCpuset(usable)}));
}

}  // namespace

void DomainManager::pinVcpu(const rpc::DomainRef& dom, unsigned vcpu, const std::set<unsigned>& cpus, unsigned flags,
                            JobDone done)
{
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags);
    checkCpus(cpus);
    runJob(d, "pin vcpu", [this, target, vcpu, cpus](Domain& x) {
        const conf::DomainDef& shown = target.live ? x.live : x.persistentDef();
        if (vcpu >= shown.vcpusMax)
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("vCPU %1 does not exist (the domain has %2)"),
                                                  {std::to_string(vcpu), std::to_string(shown.vcpusMax)}));
        auto saveConfig = [this, target, vcpu, cpus](Domain& y) {
            if (target.config)
                editDefinition(y, [&](conf::DomainDef& def) { def.tune.vcpuPin[vcpu] = cpus; });
        };
        if (!target.live) {
            saveConfig(x);
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        nlohmann::json body = {{"vcpu", vcpu}, {"host_cpus", std::vector<unsigned>(cpus.begin(), cpus.end())}};
        vmmJob(x, "vm.affinity", [this, vcpu, cpus, saveConfig](Domain& y) {
            y.live.tune.vcpuPin[vcpu] = cpus;
            saveStatus(y);
            saveConfig(y);
        }, body);
    }, std::move(done));
}

void DomainManager::pinEmulator(const rpc::DomainRef& dom, const std::set<unsigned>& cpus, unsigned flags)
{
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags);
    checkCpus(cpus);
    if (target.live) {
        try {
            process::pinEmulatorThreads(d.vmm->pid(), cpus);
        } catch (const std::exception& e) {
            fail(VIR_ERR_OPERATION_FAILED, e.what());
        }
        d.live.tune.emulatorPin = cpus;
        saveStatus(d);
    }
    if (target.config)
        editDefinition(d, [&](conf::DomainDef& def) { def.tune.emulatorPin = cpus; });
}

}  // namespace mica::domain
