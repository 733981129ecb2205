// Helpers the DomainManager's files share: libvirt-style errors, uuid text.
#pragma once

#include <libvirt/virterror.h>
#include <nlohmann/json.hpp>

#include <exception>
#include <optional>
#include <string>

#include "ConfError.h"
#include "DomainDef.h"
#include "RemoteTypes.h"
#include "RpcError.h"

namespace mica::domain {

struct Domain;

// libvirt's servers put the error code's own text in front of the message.
[[noreturn]] void fail(virErrorNumber code, const std::string& message);
rpc::RpcError error(virErrorNumber code, const std::string& message);
[[noreturn]] void failConf(const conf::ConfError& e);
void checkFlags(unsigned flags, unsigned allowed);
// VIR_DOMAIN_AFFECT_LIVE / _CONFIG of a query or a change that takes one of them:
// whether it is about the running domain (CURRENT: when it runs). Fails for both at
// once, and for LIVE on a domain that does not run.
bool affectsLive(const Domain& d, unsigned flags);
// The same for a change that may take both at once (vcpupin, blkdeviotune): neither
// means the running domain when it runs, its definition otherwise.
struct AffectTargets {
    bool live, config;
};
AffectTargets affectTargets(const Domain& d, unsigned flags);
// A disk of `def` as virsh names one: its target ("vda") or its source path; null when
// none is.
const conf::DiskDef* diskByName(const conf::DomainDef& def, const std::string& name);
conf::DiskDef* diskByName(conf::DomainDef& def, const std::string& name);
// vm.info's disk `id`: its image's path and image_type, if the answer has them.
std::optional<std::pair<std::string, std::string>> vmmDiskImage(const nlohmann::json& vmInfo, const std::string& id);
// Whether both flags a and b are set.
inline bool both(unsigned flags, unsigned a, unsigned b) { return (flags & a) && (flags & b); }
// What a caller is told about an exception out of a job.
rpc::RemoteError remoteError(const std::exception_ptr& e);

std::string uuidText(const rpc::Uuid& u);
rpc::Uuid uuidBytes(const std::string& text);

}  // namespace mica::domain
