#include "ReadOnlyRule.h"

#include <libvirt/libvirt.h>

#include <algorithm>
#include <stdexcept>

#include "ProcedureTable.h"

namespace mica::rpc {

namespace {

// The constants the table's conditions name, as far as libvirt's public headers (9.0)
// define them. VIR_NODE_DEVICE_UPDATE_AFFECT_* (10.x) are missing, which is harmless:
// NODE_DEVICE_UPDATE needs node_device:write regardless of its flags.
struct Constant {
    std::string_view name;
    std::uint32_t value;
};

constexpr Constant kConstants[] = {
    {"VIR_DOMAIN_AFFECT_CONFIG", VIR_DOMAIN_AFFECT_CONFIG},
    {"VIR_DOMAIN_AFFECT_LIVE", VIR_DOMAIN_AFFECT_LIVE},
    {"VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE", VIR_DOMAIN_CHECKPOINT_CREATE_QUIESCE},
    {"VIR_DOMAIN_CHECKPOINT_XML_SECURE", VIR_DOMAIN_CHECKPOINT_XML_SECURE},
    {"VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT", VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT},
    {"VIR_DOMAIN_REBOOT_GUEST_AGENT", VIR_DOMAIN_REBOOT_GUEST_AGENT},
    {"VIR_DOMAIN_SAVE_IMAGE_XML_SECURE", VIR_DOMAIN_SAVE_IMAGE_XML_SECURE},
    {"VIR_DOMAIN_SHUTDOWN_GUEST_AGENT", VIR_DOMAIN_SHUTDOWN_GUEST_AGENT},
    {"VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE", VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE},
    {"VIR_DOMAIN_SNAPSHOT_XML_SECURE", VIR_DOMAIN_SNAPSHOT_XML_SECURE},
    {"VIR_DOMAIN_VCPU_GUEST", VIR_DOMAIN_VCPU_GUEST},
    {"VIR_DOMAIN_XML_MIGRATABLE", VIR_DOMAIN_XML_MIGRATABLE},
    {"VIR_DOMAIN_XML_SECURE", VIR_DOMAIN_XML_SECURE},
    {"VIR_NETWORK_UPDATE_AFFECT_CONFIG", VIR_NETWORK_UPDATE_AFFECT_CONFIG},
    {"VIR_NETWORK_UPDATE_AFFECT_LIVE", VIR_NETWORK_UPDATE_AFFECT_LIVE},
};

struct ArgumentPlace {
    std::int32_t number;
    std::string_view argument;
    unsigned wordsFromEnd;
};

constexpr ArgumentPlace kArgumentPlaces[] = {
#define ACL_ARGUMENT(number, argument, wordsFromEnd) {number, #argument, wordsFromEnd},
#include "RemoteProcedures.def"
};

constexpr std::int32_t kReadOnlyDenied[] = {
#define READ_ONLY_DENIED(number) number,
#include "RemoteProcedures.def"
};

std::vector<std::string_view> split(std::string_view s, char sep)
{
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        std::size_t end = s.find(sep, start);
        parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos)
            return parts;
        start = end + 1;
    }
}

bool deniedOutright(std::int32_t proc)
{
    return std::find(std::begin(kReadOnlyDenied), std::end(kReadOnlyDenied), proc) !=
           std::end(kReadOnlyDenied);
}

// The OR of "A|B|C"; nullopt if a name is unknown.
std::optional<std::uint32_t> maskOf(std::string_view names)
{
    std::uint32_t mask = 0;
    for (std::string_view name : split(names, '|')) {
        std::optional<std::uint32_t> v = aclConstant(name);
        if (!v)
            return std::nullopt;
        mask |= *v;
    }
    return mask;
}

// Whether a conditional permission applies to this call; true when it cannot tell.
bool conditionHolds(std::int32_t proc, const AclPermission& p, std::span<const std::uint8_t> args)
{
    std::optional<unsigned> place = aclArgumentWordsFromEnd(proc, p.argument);
    if (!place || *place == 0 || args.size() < 4u * *place)
        return true;
    const std::uint8_t* w = args.data() + args.size() - 4u * *place;
    std::uint32_t value = (std::uint32_t{w[0]} << 24) | (std::uint32_t{w[1]} << 16) |
                          (std::uint32_t{w[2]} << 8) | std::uint32_t{w[3]};
    std::optional<std::uint32_t> operand = maskOf(p.operand);
    if (!operand)
        return true;
    switch (p.when) {
    case AclPermission::When::FlagsSet:
        return (value & *operand) == *operand;
    case AclPermission::When::FlagsClear:
        return (value & *operand) == 0;
    case AclPermission::When::ArgumentEquals:
        return value == *operand;
    case AclPermission::When::Always:
        break;
    }
    return true;
}

}  // namespace

std::vector<AclPermission> parseAcl(std::string_view acl)
{
    std::vector<AclPermission> perms;
    for (std::string_view line : split(acl, ' ')) {
        if (line.empty())
            continue;
        AclPermission p;
        if (line == "none") {
            p.permission = "none";
            perms.push_back(p);
            continue;
        }
        std::vector<std::string_view> f = split(line, ':');
        if (f.size() < 2 || f[0].empty() || f[1].empty())
            throw std::invalid_argument("malformed ACL permission: " + std::string(line));
        p.object = f[0];
        p.permission = f[1];
        if (f.size() == 3 && !f[2].empty()) {
            bool negated = f[2].front() == '!';
            p.when = negated ? AclPermission::When::FlagsClear : AclPermission::When::FlagsSet;
            p.argument = "flags";
            p.operand = negated ? f[2].substr(1) : f[2];
        } else if (f.size() == 5 && f[2].empty() && !f[3].empty() && !f[4].empty()) {
            p.when = AclPermission::When::ArgumentEquals;
            p.argument = f[3];
            p.operand = f[4];
        } else if (f.size() != 2) {
            throw std::invalid_argument("malformed ACL permission: " + std::string(line));
        }
        perms.push_back(p);
    }
    if (perms.empty())
        throw std::invalid_argument("empty ACL");
    return perms;
}

bool isReadPermission(const AclPermission& p)
{
    return p.permission == "none" || p.permission == "getattr" || p.permission == "read" ||
           p.permission.starts_with("search_");
}

std::optional<std::uint32_t> aclConstant(std::string_view name)
{
    for (const Constant& c : kConstants)
        if (c.name == name)
            return c.value;
    return std::nullopt;
}

std::optional<unsigned> aclArgumentWordsFromEnd(std::int32_t proc, std::string_view argument)
{
    for (const ArgumentPlace& a : kArgumentPlaces)
        if (a.number == proc && a.argument == argument)
            return a.wordsFromEnd;
    if (argument == "flags")
        return 1;
    return std::nullopt;
}

ReadOnlyVerdict readOnlyVerdict(std::int32_t proc, std::span<const std::uint8_t> args)
{
    const RemoteProcedure* rp = findRemoteProcedure(proc);
    std::string api = remoteProcedureApiName(proc);
    if (!rp || rp->kind != ProcedureKind::Call || deniedOutright(proc))
        return {false, api};
    for (const AclPermission& p : parseAcl(rp->acl)) {
        if (isReadPermission(p))
            continue;
        if (p.when == AclPermission::When::Always)
            return {false, api};
        if (conditionHolds(proc, p, args))
            // libvirt words the refusals of secure XML this way.
            return {false, p.permission == "read_secure" ? api + " with secure flag" : api};
    }
    return {true, {}};
}

bool remoteProcedureIsReadOnly(std::int32_t proc)
{
    const RemoteProcedure* rp = findRemoteProcedure(proc);
    if (!rp || rp->kind != ProcedureKind::Call || deniedOutright(proc))
        return false;
    auto perms = parseAcl(rp->acl);
    return std::all_of(perms.begin(), perms.end(), [](const AclPermission& p) {
        return p.when != AclPermission::When::Always || isReadPermission(p);
    });
}

}  // namespace mica::rpc
