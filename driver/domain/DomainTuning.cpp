// virsh schedinfo, memtune and blkiotune (the tunables of conf/Tuning.h: the VMM's
// cgroup), vcpupin and emulatorpin (thread affinities), blkdeviotune (a disk's I/O
// limits, the VMM's): read from and written to the live domain and its persistent
// definition, as VIR_DOMAIN_AFFECT_LIVE / _CONFIG say.
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

// libvirt's LIVE and CONFIG for a pin, both allowed together.
struct PinTarget {
    bool live, config;
};

PinTarget pinTarget(const Domain& d, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    PinTarget t{(flags & VIR_DOMAIN_AFFECT_LIVE) != 0, (flags & VIR_DOMAIN_AFFECT_CONFIG) != 0};
    if (!t.live && !t.config)
        (d.active() ? t.live : t.config) = true;
    if (t.live && !d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    if (t.config && !d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("a transient domain has no persistent definition to change"));
    return t;
}

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
    PinTarget target = pinTarget(d, flags);
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
    PinTarget target = pinTarget(d, flags);
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

// --- blkdeviotune --------------------------------------------------------------------

namespace {

conf::DiskDef* findDisk(conf::DomainDef& def, const std::string& disk)
{
    for (auto& d : def.disks)
        if (d.target == disk || d.source == disk)
            return &d;
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("disk '%1' was not found in the domain config"), {disk}));
}

// What setting `given` does beside it, as libvirt's QEMU driver has it: a total limit
// clears the read and write ones of its unit and kind (rate or burst), and a read or
// write limit clears the total, unless the same call sets them too.
void clearCounterparts(IoLimits& limits, const std::set<std::string>& given)
{
    for (IoUnit unit : {IoUnit::Bytes, IoUnit::Ops})
        for (auto part : {&BucketLimit::rate, &BucketLimit::max, &BucketLimit::maxLength}) {
            auto name = [&](IoDirection d) {
                for (const auto& f : kIoLimitFields)
                    if (f.bucket == bucketIndex(unit, d) && f.part == part)
                        return std::string(f.name);
                return std::string();
            };
            auto& total = limits.buckets[bucketIndex(unit, IoDirection::Total)].*part;
            auto& read = limits.buckets[bucketIndex(unit, IoDirection::Read)].*part;
            auto& write = limits.buckets[bucketIndex(unit, IoDirection::Write)].*part;
            bool t = given.count(name(IoDirection::Total)), r = given.count(name(IoDirection::Read)),
                 w = given.count(name(IoDirection::Write));
            if (t && !r && !w)
                read = write = 0;
            if ((r || w) && !t)
                total = 0;
        }
}

}  // namespace

std::vector<rpc::TypedParam> DomainManager::blockIoTune(const rpc::DomainRef& dom, const std::optional<std::string>& disk,
                                                        unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_TYPED_PARAM_STRING_OKAY);
    Domain& d = find(dom);
    conf::DomainDef& def = affectsLive(d, flags) ? d.live : d.persistentDef();
    IoLimits limits;
    if (disk)
        limits = findDisk(def, *disk)->iotune;
    std::vector<rpc::TypedParam> out;
    for (const auto& f : kIoLimitFields)
        out.push_back({f.name, fieldOf(limits, f)});
    return out;
}

void DomainManager::setBlockIoTune(const rpc::DomainRef& dom, const std::string& disk,
                                   const std::vector<rpc::TypedParam>& params, unsigned flags, JobDone done)
{
    Domain& d = find(dom);
    PinTarget target = pinTarget(d, flags);
    // Checked before the job: the values, then each target's disk.
    std::vector<std::pair<const IoLimitField*, uint64_t>> values;
    std::set<std::string> given;
    for (const auto& p : params) {
        if (p.field == VIR_DOMAIN_BLOCK_IOTUNE_GROUP_NAME) {
            auto* name = std::get_if<std::string>(&p.value);
            if (name && name->empty())
                continue;
            fail(VIR_ERR_CONFIG_UNSUPPORTED, _("I/O limit groups (group_name) are not supported by mica"));
        }
        auto f = std::find_if(kIoLimitFields.begin(), kIoLimitFields.end(),
                              [&](const IoLimitField& x) { return p.field == x.name; });
        if (f == kIoLimitFields.end())
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("parameter '%1' is not supported by mica"), {p.field}));
        if (!std::holds_alternative<std::uint64_t>(p.value))
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("parameter '%1' has the wrong type"), {p.field}));
        values.push_back({&*f, std::get<std::uint64_t>(p.value)});
        given.insert(f->name);
    }
    auto changed = [values, given](const conf::DiskDef& current) {
        IoLimits limits = current.iotune;
        for (auto [f, v] : values)
            fieldOf(limits, *f) = v;
        clearCounterparts(limits, given);
        if (auto problem = ioLimitsProblem(limits); !problem.empty())
            fail(VIR_ERR_INVALID_ARG, problem);
        return limits;
    };
    if (target.live)
        changed(*findDisk(d.live, disk));
    if (target.config)
        changed(*findDisk(d.persistentDef(), disk));
    runJob(d, "block I/O tune", [this, target, disk, changed](Domain& x) {
        auto saveConfig = [this, target, disk, changed](Domain& y) {
            if (target.config)
                editDefinition(y, [&](conf::DomainDef& def) {
                    conf::DiskDef* dd = findDisk(def, disk);
                    dd->iotune = changed(*dd);
                });
        };
        if (!target.live) {
            saveConfig(x);
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        conf::DiskDef* live = findDisk(x.live, disk);
        IoLimits limits = changed(*live);
        nlohmann::json io = nlohmann::json::object();
        for (const auto& f : kIoLimitFields)
            if (uint64_t v = fieldOf(limits, f))
                io[f.name] = v;
        std::string id = live->target;
        vmmJob(x, "vm.disk-iotune", [this, id, limits, saveConfig](Domain& y) {
            findDisk(y.live, id)->iotune = limits;
            saveStatus(y);
            saveConfig(y);
        }, nlohmann::json{{"id", id}, {"iotune", io}});
    }, std::move(done));
}

}  // namespace mica::domain
