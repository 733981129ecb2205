// <seclabel> of a domain: which uid and gid its VMM runs as, with libvirt's DAC model
// (the only one mica has; it confines with namespaces, cgroups and seccomp instead of
// SELinux or AppArmor labels).
//   <seclabel type='static' model='dac' relabel='yes'><label>+107:+107</label></seclabel>
//     the VMM runs as that user and group (names or +numbers); the daemon must confine
//     VMMs (vmm_uids or vmm_user), and root is refused;
//   <seclabel type='dynamic' model='dac'/>: the daemon picks, as without one. The live
//     XML shows the label picked; a dynamic label's <label> on input is ignored, as
//     libvirt does (it is output).
// type='none', another model or relabel='no' is refused: mica always confines and always
// gives the VMM its run directory.
#pragma once

#include <sys/types.h>

#include <utility>

#include "DomainDef.h"
#include "Xml.h"

namespace mica::conf {

void parseSecLabel(ElementReader& domain, DomainDef& def);
void formatSecLabel(const DomainDef& def, bool live, xmlNode* domain);

// The uid and gid of a DAC label; throws ConfError naming what does not resolve.
std::pair<uid_t, gid_t> resolveDacLabel(const std::string& label);
std::string dacLabel(uid_t uid, gid_t gid);   // "+UID:+GID"

}  // namespace mica::conf
