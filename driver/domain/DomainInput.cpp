// What a client sends into a running guest: virsh inject-nmi.
#include <libvirt/libvirt.h>

#include "DomainManager.h"
#include "ManagerSupport.h"
#include "i18n.h"

namespace mica::domain {

void DomainManager::injectNmi(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    checkFlags(flags, 0);
    Domain& d = find(dom);
    if (!d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    runJob(d, "inject nmi", [this](Domain& x) { vmmJob(x, "vm.nmi", [](Domain&) {}); }, std::move(done));
}

}  // namespace mica::domain
