// Numbers of libvirt's RPC protocol that its public headers do not carry.
//
// Values come from libvirt's virnetprotocol.x, virkeepaliveprotocol.x and
// remote_protocol.x (summarised in the project's rpc.md fact sheet). They are wire
// constants: libvirt never renumbers them, so neither may we.
#pragma once

#include <cstdint>

namespace mica::rpc {

// ---- framing (virnetprotocol.x) ----
// Largest header+payload a peer may send; the 4-byte length word comes on top.
inline constexpr std::uint32_t kMessageMax = 32u * 1024 * 1024;
inline constexpr std::uint32_t kHeaderSize = 24;
inline constexpr std::uint32_t kLengthSize = 4;
inline constexpr std::uint32_t kPayloadMax = kMessageMax - kHeaderSize;
inline constexpr std::uint32_t kErrorStringMax = 4194304;   // VIR_NET_MESSAGE_STRING_MAX
inline constexpr std::uint32_t kMessageFdsMax = 32;

enum class MessageType : std::int32_t {
    Call = 0,
    Reply = 1,
    Message = 2,        // async: events server->client, keepalive both ways
    Stream = 3,
    CallWithFds = 4,
    ReplyWithFds = 5,
    StreamHole = 6,
};

enum class MessageStatus : std::int32_t {
    Ok = 0,
    Error = 1,
    Continue = 2,
};

// ---- programs ----
inline constexpr std::uint32_t kRemoteProgram = 0x20008086;
inline constexpr std::uint32_t kRemoteVersion = 1;
inline constexpr std::uint32_t kKeepaliveProgram = 0x6b656570;   // "keep"
inline constexpr std::uint32_t kKeepaliveVersion = 1;
inline constexpr std::uint32_t kQemuProgram = 0x20008087;
inline constexpr std::uint32_t kLxcProgram = 0x00068000;

enum KeepaliveProc : std::int32_t {
    kKeepalivePing = 1,
    kKeepalivePong = 2,
};

// ---- bounds of remote_protocol.x that our decoders enforce ----
inline constexpr std::uint32_t kRemoteStringMax = 4194304;
inline constexpr std::uint32_t kRemoteDomainListMax = 16384;
inline constexpr std::uint32_t kRemoteAuthTypeListMax = 20;
inline constexpr std::uint32_t kRemoteNodeCpuStatsMax = 16;
inline constexpr std::uint32_t kRemoteNodeMemoryStatsMax = 16;
inline constexpr std::uint32_t kRemoteCpumapMax = 2048;
inline constexpr std::uint32_t kRemoteSecurityModelMax = 257;
inline constexpr std::uint32_t kRemoteSecurityDoiMax = 257;
inline constexpr std::uint32_t kTypedParamFieldMax = 79;   // VIR_TYPED_PARAM_FIELD_LENGTH - 1
inline constexpr std::uint32_t kUuidLength = 16;

// remote_auth_type
inline constexpr std::int32_t kAuthNone = 0;

// VIR_DRV_FEATURE_* (libvirt_internal.h): asked with CONNECT_SUPPORTS_FEATURE.
enum DriverFeature : std::int32_t {
    kFeatureRemote = 2,
    kFeatureFdPassing = 8,
    kFeatureTypedParamString = 9,
    kFeatureProgramKeepalive = 10,
    kFeatureRemoteEventCallback = 14,
    kFeatureRemoteCloseCallback = 15,
    kFeatureNetworkUpdateHasCorrectOrder = 16,
};

// REMOTE_PROC_* numbers the daemon's own code refers to (calls it handles, events it
// sends). The full list, with names and ACLs, is RemoteProcedures.def
// (ProcedureTable.h); these must agree with it (tested).
enum RemoteProc : std::int32_t {
    kProcConnectOpen = 1,
    kProcConnectClose = 2,
    kProcConnectGetType = 3,
    kProcConnectGetVersion = 4,
    kProcConnectGetMaxVcpus = 5,
    kProcNodeGetInfo = 6,
    kProcConnectGetCapabilities = 7,
    kProcConnectListDefinedDomains = 21,
    kProcConnectNumOfDefinedDomains = 25,
    kProcConnectListDomains = 37,
    kProcConnectNumOfDomains = 51,
    kProcConnectGetHostname = 59,
    kProcConnectSupportsFeature = 60,
    kProcAuthList = 66,
    kProcNodeGetFreeMemory = 102,
    kProcDomainEventLifecycle = 107,
    kProcConnectGetUri = 110,
    kProcNodeGetSecurityModel = 122,
    kProcConnectIsSecure = 149,
    kProcConnectGetLibVersion = 157,
    kProcConnectDomainEventRegisterAny = 167,
    kProcConnectDomainEventDeregisterAny = 168,
    kProcDomainEventReboot = 169,
    kProcDomainEventBlockJob = 241,
    kProcConnectGetSysinfo = 203,
    kProcNodeGetCpuStats = 227,
    kProcNodeGetMemoryStats = 228,
    kProcConnectListAllDomains = 273,
    kProcNodeGetCpuMap = 293,
    kProcConnectDomainEventCallbackRegisterAny = 316,
    kProcConnectDomainEventCallbackDeregisterAny = 317,
    kProcDomainEventCallbackLifecycle = 318,
    kProcDomainEventCallbackReboot = 319,
    kProcDomainEventCallbackBlockJob = 326,
    kProcDomainEventBlockJob2 = 339,
    kProcDomainEventDeviceRemoved = 311,
    kProcDomainEventCallbackDeviceRemoved = 333,
    kProcDomainEventCallbackDeviceAdded = 354,
    kProcDomainEventCallbackDeviceRemovalFailed = 367,
    kProcDomainEventCallbackMetadataChange = 379,
    kProcConnectGetDomainCapabilities = 342,
    kProcConnectRegisterCloseCallback = 360,
    kProcConnectUnregisterCloseCallback = 361,
};

}  // namespace mica::rpc
