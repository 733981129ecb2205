// The remote program's procedures as data: every REMOTE_PROC_* number libvirt defines,
// with its name, whether clients call it or the server sends it (events), libvirt's
// ACL annotation and priority, and the vir* API it serves. The facts live in
// RemoteProcedures.def; this is how the rest of the daemon looks them up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mica::rpc {

enum class ProcedureKind {
    Call,    // a client calls it
    Event,   // the server sends it as a MESSAGE; calling it is an unknown procedure
};

enum class ProcedurePriority { Low, High };

struct RemoteProcedure {
    std::int32_t number = 0;
    std::string_view name;   // REMOTE_PROC_* without the prefix: "DOMAIN_GET_XML_DESC"
    ProcedureKind kind = ProcedureKind::Call;
    ProcedurePriority priority = ProcedurePriority::Low;
    // libvirt's @acl lines, space-separated ("domain:read domain:read_secure:VIR_...");
    // "none" for events. ReadOnlyRule.h reads them.
    std::string_view acl;
};

// Every procedure, by number: entry i is number i + 1, from 1 to remoteProcedureMax().
std::span<const RemoteProcedure> remoteProcedures();
std::int32_t remoteProcedureMax();

// The entry for a number, or nullptr when libvirt has no such procedure.
const RemoteProcedure* findRemoteProcedure(std::int32_t proc);

// The name without REMOTE_PROC_, or empty when the number is unknown.
std::string_view remoteProcedureName(std::int32_t proc);

// The public API a procedure serves, as libvirt names it in its own errors
// ("virDomainBlockStatsFlags"); "procedure N" when the number is unknown.
std::string remoteProcedureApiName(std::int32_t proc);

}  // namespace mica::rpc
