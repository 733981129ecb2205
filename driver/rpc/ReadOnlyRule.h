// Which calls a read-only connection (virsh -r, the -sock-ro socket) may make, decided
// from libvirt's own ACL annotations in RemoteProcedures.def rather than guessed: a
// call is allowed iff every permission it requires is a read permission. Permissions
// that apply only under a flag or argument condition are evaluated on the call's
// argument bytes, so DOMAIN_GET_XML_DESC is allowed, and with VIR_DOMAIN_XML_SECURE
// refused, as libvirt does.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mica::rpc {

// One @acl line: "object:permission", optionally with a condition.
struct AclPermission {
    enum class When {
        Always,           // object:permission
        FlagsSet,         // object:permission:A|B      all of A, B set in the flags
        FlagsClear,       // object:permission:!A|B     none of A, B set
        ArgumentEquals,   // object:permission::arg:V   argument arg == V
    };
    std::string_view object;       // "domain"; empty for "none"
    std::string_view permission;   // "read_secure"; "none" for "none"
    When when = When::Always;
    std::string_view argument;     // "flags", or the argument of an ArgumentEquals
    std::string_view operand;      // "A|B" (without the !), or V
};

// Parses a table entry's acl column; throws std::invalid_argument when malformed.
std::vector<AclPermission> parseAcl(std::string_view acl);

// none, *:getattr, *:read and *:search_* (listing objects) only read state.
bool isReadPermission(const AclPermission& p);

// The value of a constant an ACL condition names (VIR_DOMAIN_XML_SECURE, ...), from
// libvirt's public headers; nullopt when we do not know it.
std::optional<std::uint32_t> aclConstant(std::string_view name);

// Where an argument a condition tests sits in a procedure's arguments, counted in
// 32-bit words from their end (flags: 1, the last word); nullopt when not known.
std::optional<unsigned> aclArgumentWordsFromEnd(std::int32_t proc, std::string_view argument);

struct ReadOnlyVerdict {
    bool allowed = false;
    // When refused, what libvirt's error names after "read only access prevents":
    // "virDomainDefineXML", "virDomainGetXMLDesc with secure flag".
    std::string refused;
};

// Whether a read-only connection may make this call of the remote program. A
// condition that cannot be evaluated (arguments too short, unknown constant or
// argument) counts as holding: refused rather than let through.
ReadOnlyVerdict readOnlyVerdict(std::int32_t proc, std::span<const std::uint8_t> args);

// Whether a read-only connection may call proc at all, i.e. with arguments that meet
// none of its conditions. False for unknown numbers and events.
bool remoteProcedureIsReadOnly(std::int32_t proc);

}  // namespace mica::rpc
