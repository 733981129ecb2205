// virsh schedinfo, memtune and blkiotune: the tunables of conf/Tuning.h, read from and
// written to the live domain (its VMM's cgroup) and its persistent definition, as
// libvirt's VIR_DOMAIN_AFFECT_LIVE / _CONFIG say.
#include <libvirt/libvirt.h>

#include "Cgroup.h"
#include "DomainManager.h"
#include "DomainXmlFormatter.h"
#include "ManagerSupport.h"
#include "Tuning.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// LIVE and CONFIG as libvirt resolves them: CURRENT is live when running.
bool affectsLive(const Domain& d, unsigned flags)
{
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && (flags & VIR_DOMAIN_AFFECT_CONFIG))
        fail(VIR_ERR_INVALID_ARG, _("live and config are mutually exclusive here"));
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && !d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    return d.active() && !(flags & VIR_DOMAIN_AFFECT_CONFIG);
}

}  // namespace

std::vector<rpc::TypedParam> DomainManager::tuneParameters(const rpc::DomainRef& dom, conf::TuneGroup group,
                                                           unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_TYPED_PARAM_STRING_OKAY);
    Domain& d = find(dom);
    const conf::DomainDef& def = affectsLive(d, flags) ? d.live : (d.newDef ? *d.newDef : d.def);
    std::vector<rpc::TypedParam> out;
    for (const auto& t : conf::kTunables) {
        if (t.group != group)
            continue;
        uint64_t v = (def.tune.*t.field).value_or(t.unset);
        if (t.unsignedInt)
            out.push_back({t.param, static_cast<std::uint32_t>(v)});
        else
            out.push_back({t.param, v});
    }
    return out;
}

void DomainManager::applyTuning(const conf::TuneDef& tune, const std::string& cgroup) const
{
    for (const auto& t : conf::kTunables)
        if (auto v = tune.*t.field)
            process::writeCgroupFile(cgroup, t.file, conf::cgroupValue(t, *v));
}

void DomainManager::checkTuningCanApply(const conf::TuneDef& tune) const
{
    if (tune != conf::TuneDef{} && !options_.confinement)
        fail(VIR_ERR_CONFIG_UNSUPPORTED,
             _("<cputune>, <memtune> and <blkiotune> need a cgroup per VMM: run virtmicad with --vmm-uids"));
}

void DomainManager::setTuneParameters(const rpc::DomainRef& dom, conf::TuneGroup group,
                                      const std::vector<rpc::TypedParam>& params, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    Domain& d = find(dom);
    bool live = affectsLive(d, flags);
    if (!live && !d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("a transient domain has no persistent definition to change"));
    conf::TuneDef tune = live ? d.live.tune : (d.newDef ? *d.newDef : d.def).tune;
    for (const auto& p : params) {
        const conf::Tunable* t = nullptr;
        for (const auto& candidate : conf::kTunables)
            if (candidate.group == group && p.field == candidate.param)
                t = &candidate;
        if (!t)
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("parameter '%1' is not supported by mica"), {p.field}));
        uint64_t v = 0;
        if (t->unsignedInt && std::holds_alternative<std::uint32_t>(p.value))
            v = std::get<std::uint32_t>(p.value);
        else if (!t->unsignedInt && std::holds_alternative<std::uint64_t>(p.value))
            v = std::get<std::uint64_t>(p.value);
        else
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("parameter '%1' has the wrong type"), {p.field}));
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
    conf::DomainDef& def = d.newDef ? *d.newDef : d.def;
    conf::DomainDef changed = def;
    changed.tune = tune;
    try {
        store_.saveConfig(changed);
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
    def = std::move(changed);
}

}  // namespace mica::domain
