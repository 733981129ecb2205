// A running domain's disks changed in place: virsh blkdeviotune (the disk's <iotune>,
// the VMM's I/O limits; live and/or in the definition) and blockresize (the image grows
// under the running guest).
#include <libvirt/libvirt.h>

#include <algorithm>

#include "DomainManager.h"
#include "ManagerSupport.h"
#include "VmConfigTranslator.h"
#include "i18n.h"

namespace mica::domain {

namespace {

conf::DiskDef* findDisk(conf::DomainDef& def, const std::string& disk)
{
    if (conf::DiskDef* d = diskByName(def, disk))
        return d;
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("disk '%1' was not found in the domain config"), {disk}));
}

// What setting `given` does beside it, as libvirt's QEMU driver has it: a total limit
// clears the read and write ones of its unit and kind (rate or burst), and a read or
// write limit clears the total, unless the same call sets them too.
void clearCounterparts(IoLimits& limits, const std::set<std::string>& given)
{
    for (IoUnit unit : {IoUnit::Bytes, IoUnit::Ops})
        for (auto part : {&BucketLimit::rate, &BucketLimit::max, &BucketLimit::maxLength}) {
            auto name = [&](IoDirection d) { return std::string(ioLimitName(bucketIndex(unit, d), part)); };
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
    AffectTargets target = affectTargets(d, flags);
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
        nlohmann::json io = conf::ioLimitsJson(limits);
        std::string id = live->target;
        vmmJob(x, "vm.disk-iotune", [this, id, limits, saveConfig](Domain& y) {
            findDisk(y.live, id)->iotune = limits;
            saveStatus(y);
            saveConfig(y);
        }, nlohmann::json{{"id", id}, {"iotune", io}});
    }, std::move(done));
}

void DomainManager::blockResize(const rpc::DomainRef& dom, const std::string& disk, uint64_t size, unsigned flags,
                                JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_BLOCK_RESIZE_BYTES);
    Domain& d = running(dom);
    if (!(flags & VIR_DOMAIN_BLOCK_RESIZE_BYTES)) {
        if (size > UINT64_MAX / 1024)
            fail(VIR_ERR_OVERFLOW, conf::subst(_("size %1 KiB is too large"), {std::to_string(size)}));
        size *= 1024;
    }
    if (size > UINT64_MAX - 511)
        fail(VIR_ERR_OVERFLOW, conf::subst(_("size %1 is too large"), {std::to_string(size)}));
    size = (size + 511) / 512 * 512;  // whole sectors, as libvirt rounds for QEMU
    std::string id = findDisk(d.live, disk)->target;
    runJob(d, "block resize", [this, id, size](Domain& x) {
        vmmJob(x, "vm.resize-disk", [](Domain&) {}, nlohmann::json{{"id", id}, {"size", size}});
    }, std::move(done));
}

}  // namespace mica::domain
