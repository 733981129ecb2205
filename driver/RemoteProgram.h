// The remote program (0x20008086 v1) as virtmicad serves it: the connection, node,
// capabilities, domain listing and event procedures. A domain driver adds its own
// procedures to the same Dispatcher (what a read-only connection may call is decided
// by rpc/RemoteProcedures.def, not by the registration) and answers listings through
// DomainTable.
#pragma once

#include <functional>
#include <string>

#include "CapabilitiesHooks.h"
#include "Dispatcher.h"
#include "DomainTable.h"
#include "HostInfo.h"
#include "Protocol.h"

namespace mica::domain {
class DomainManager;
struct JobOutcome;
}

namespace mica::driver {

enum class DaemonMode { System, Session };

struct RemoteProgramContext {
    DaemonMode mode = DaemonMode::System;
    const DomainTable& domains;
    const HostInfo& host;
    CapabilitiesHooks caps;
};

// The URI a CONNECT_OPEN name stands for on this daemon ("mica:///system"), or an
// RpcError saying why not. An empty name (client without a URI) gets the daemon's own.
std::string canonicalConnectUri(const std::optional<std::string>& name, DaemonMode mode);

// One procedure of the remote program; beforeOpen: callable before CONNECT_OPEN.
inline void addProcedure(rpc::Dispatcher& d, std::int32_t proc, rpc::ProcedureHandler h, bool beforeOpen = false)
{
    d.add(rpc::kRemoteProgram, proc, {std::move(h), beforeOpen});
}

// A job's answer to the call in c (deferred until the job ends): its error, or success
// with the domain it leaves (returnsDomain) or nothing (RemoteDomainOperations.cpp).
std::function<void(domain::JobOutcome)> jobAnswer(rpc::CallContext& c, bool returnsDomain = false);

// Registers everything below on dispatcher; ctx must outlive it.
void registerRemoteProgram(rpc::Dispatcher& dispatcher, const RemoteProgramContext& ctx);
void registerConnectProcedures(rpc::Dispatcher& dispatcher, const RemoteProgramContext& ctx);
void registerDomainListProcedures(rpc::Dispatcher& dispatcher, const RemoteProgramContext& ctx);
void registerEventProcedures(rpc::Dispatcher& dispatcher);
// The per-domain procedures (RemoteDomainOperations.cpp); manager must outlive dispatcher.
void registerDomainOperations(rpc::Dispatcher& dispatcher, domain::DomainManager& manager);
// Snapshots (RemoteSnapshotProcedures.cpp) and block jobs (RemoteBlockJobProcedures.cpp).
void registerSnapshotProcedures(rpc::Dispatcher& dispatcher, domain::DomainManager& manager);
void registerBlockJobProcedures(rpc::Dispatcher& dispatcher, domain::DomainManager& manager);
// attach-device and detach-device (RemoteDeviceProcedures.cpp).
void registerDeviceProcedures(rpc::Dispatcher& dispatcher, domain::DomainManager& manager);

}  // namespace mica::driver
