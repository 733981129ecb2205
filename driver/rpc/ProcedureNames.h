// Names of the remote program's procedures, used to word errors for procedures this
// daemon does not implement ("... not supported by the connection driver:
// virConnectListAllStoragePools") and to decide what a read-only client may call.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mica::rpc {

// REMOTE_PROC_* name without the prefix ("CONNECT_LIST_ALL_DOMAINS"), or empty when
// the number is not one we know.
std::string_view remoteProcedureName(std::int32_t proc);

// The public API a procedure serves, as libvirt names it in its own errors
// ("virConnectListAllDomains"); "procedure N" when the number is unknown.
std::string remoteProcedureApiName(std::int32_t proc);

// Whether a procedure only reads state. libvirt checks this per API
// (virCheckReadOnlyGoto); we derive it from the name's verb and list the exceptions.
// Unknown numbers count as writing, so a read-only client is never let through by
// accident.
bool remoteProcedureIsReadOnly(std::int32_t proc);

}  // namespace mica::rpc
