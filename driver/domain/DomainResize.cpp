// virsh setmem / setmaxmem / setvcpus: a domain's memory, balloon and vCPU count, in the
// running domain and/or its persistent definition (VIR_DOMAIN_AFFECT_LIVE / _CONFIG), as
// libvirt's QEMU driver does. A changed definition is formatted and parsed again, so it
// passes every check a define does (topology, limits, domain capabilities).
#include <libvirt/libvirt.h>

#include "DomainManager.h"
#include "DomainXmlFormatter.h"
#include "ManagerSupport.h"
#include "i18n.h"

namespace mica::domain {

void DomainManager::redefine(Domain& d, const std::function<void(conf::DomainDef&)>& edit)
{
    editDefinition(d, [&](conf::DomainDef& def) {
        edit(def);
        def = parseNew(conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE), 0);
    });
}

void DomainManager::setMemory(const rpc::DomainRef& dom, std::uint64_t kib, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_MEM_MAXIMUM);
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags & ~VIR_DOMAIN_MEM_MAXIMUM);
    bool maximum = flags & VIR_DOMAIN_MEM_MAXIMUM;
    if (maximum && target.live)
        fail(VIR_ERR_OPERATION_INVALID, _("cannot resize the maximum memory on an active domain"));
    if (kib == 0)
        fail(VIR_ERR_INVALID_ARG, _("memory must be greater than zero"));
    runJob(d, maximum ? "set max memory" : "set memory", [this, target, maximum, kib](Domain& x) {
        auto saveConfig = [this, target, maximum, kib](Domain& y) {
            if (!target.config)
                return;
            if (!maximum && kib > y.persistentDef().memoryKiB)
                fail(VIR_ERR_INVALID_ARG, _("cannot set memory higher than max memory"));
            redefine(y, [&](conf::DomainDef& def) {
                if (maximum) {
                    def.memoryKiB = kib;
                    def.currentMemoryKiB = std::min(def.currentMemoryKiB, kib);
                } else {
                    def.currentMemoryKiB = kib;
                }
            });
        };
        if (!target.live) {
            saveConfig(x);
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        if (kib > x.live.memoryKiB)
            fail(VIR_ERR_INVALID_ARG, _("cannot set memory higher than max memory"));
        if (!x.live.balloon.present)
            fail(VIR_ERR_OPERATION_INVALID,
                 _("Unable to change memory of active domain without the balloon device and guest OS balloon driver"));
        // The config is checked before the guest's balloon moves: both or neither.
        if (target.config && !maximum && kib > x.persistentDef().memoryKiB)
            fail(VIR_ERR_INVALID_ARG, _("cannot set memory higher than max memory"));
        // mica-vmm's RAM is <memory> rounded up to whole MiB (VmConfigTranslator): the
        // balloon holds the rest back.
        std::uint64_t ramBytes = (x.live.memoryKiB + 1023) / 1024 * 1024 * 1024;
        nlohmann::json body = {{"desired_balloon", ramBytes - kib * 1024}};
        vmmJob(x, "vm.resize", [this, kib, saveConfig](Domain& y) {
            y.live.currentMemoryKiB = kib;
            saveStatus(y);
            saveConfig(y);
        }, body);
    }, std::move(done));
}

void DomainManager::setVcpus(const rpc::DomainRef& dom, unsigned count, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM |
                          VIR_DOMAIN_VCPU_GUEST | VIR_DOMAIN_VCPU_HOTPLUGGABLE);
    if (flags & VIR_DOMAIN_VCPU_GUEST)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("mica has no guest agent to change the guest's vCPUs"));
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags & (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG));
    bool maximum = flags & VIR_DOMAIN_VCPU_MAXIMUM;
    if (maximum && target.live)
        fail(VIR_ERR_INVALID_ARG, _("maximum vcpu count of a live domain can't be modified"));
    if (count == 0)
        fail(VIR_ERR_INVALID_ARG, _("requested vcpus must be greater than zero"));
    if (target.live && count != d.live.vcpusCurrent)
        fail(VIR_ERR_OPERATION_UNSUPPORTED,
             conf::subst(_("mica cannot change the number of vCPUs of a running domain (it has %1); use --config"),
                         {std::to_string(d.live.vcpusCurrent)}));
    runJob(d, "set vcpus", [this, target, maximum, count](Domain& x) {
        if (target.config) {
            if (!maximum && count > x.persistentDef().vcpusMax)
                fail(VIR_ERR_INVALID_ARG,
                     conf::subst(_("requested vcpus is greater than max allowable vcpus for the persistent domain: %1 > %2"),
                                 {std::to_string(count), std::to_string(x.persistentDef().vcpusMax)}));
            redefine(x, [&](conf::DomainDef& def) {
                if (maximum) {
                    def.vcpusMax = count;
                    def.vcpusCurrent = std::min(def.vcpusCurrent, count);
                } else {
                    def.vcpusCurrent = count;
                }
            });
        }
        finishJob(x, {std::nullopt, ref(x)});
    }, std::move(done));
}

}  // namespace mica::domain
