#include "ManagerSupport.h"

#include <libvirt/libvirt.h>

#include <cstdio>
#include <utility>

#include "Domain.h"
#include "i18n.h"

namespace mica::domain {

namespace {

const char* prefix(virErrorNumber code)
{
    switch (code) {
    case VIR_ERR_NO_DOMAIN: return _("Domain not found");
    case VIR_ERR_OPERATION_INVALID: return _("Requested operation is not valid");
    case VIR_ERR_OPERATION_FAILED: return _("operation failed");
    case VIR_ERR_OPERATION_ABORTED: return _("operation aborted");
    case VIR_ERR_OPERATION_TIMEOUT: return _("Timed out during operation");
    case VIR_ERR_INVALID_ARG: return _("invalid argument");
    case VIR_ERR_ARGUMENT_UNSUPPORTED: return _("argument unsupported");
    case VIR_ERR_NO_SUPPORT: return _("this function is not supported by the connection driver");
    case VIR_ERR_OPERATION_UNSUPPORTED: return _("Operation not supported");
    case VIR_ERR_CONFIG_UNSUPPORTED: return _("unsupported configuration");
    case VIR_ERR_XML_ERROR: return _("XML error");
    case VIR_ERR_NO_DOMAIN_SNAPSHOT: return _("Domain snapshot not found");
    case VIR_ERR_BLOCK_COPY_ACTIVE: return _("block copy still active");
    case VIR_ERR_DEVICE_MISSING: return _("device not found");
    default: return _("internal error");
    }
}

}  // namespace

rpc::RpcError error(virErrorNumber code, const std::string& message)
{
    return rpc::RpcError(code, VIR_FROM_DOMAIN, std::string(prefix(code)) + ": " + message);
}

void fail(virErrorNumber code, const std::string& message)
{
    throw error(code, message);
}

void failConf(const conf::ConfError& e)
{
    throw rpc::RpcError(e.code(), VIR_FROM_DOMAIN, std::string(conf::errorCodePrefix(e.code())) + ": " + e.what());
}

void checkFlags(unsigned flags, unsigned allowed)
{
    if (flags & ~allowed) {
        char buf[96];
        std::snprintf(buf, sizeof buf, _("unsupported flags (0x%x)"), flags & ~allowed);
        fail(VIR_ERR_INVALID_ARG, buf);
    }
}

bool affectsLive(const Domain& d, unsigned flags)
{
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && (flags & VIR_DOMAIN_AFFECT_CONFIG))
        fail(VIR_ERR_INVALID_ARG, _("live and config are mutually exclusive"));
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && !d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    return d.active() && !(flags & VIR_DOMAIN_AFFECT_CONFIG);
}

AffectTargets affectTargets(const Domain& d, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
    AffectTargets t{(flags & VIR_DOMAIN_AFFECT_LIVE) != 0, (flags & VIR_DOMAIN_AFFECT_CONFIG) != 0};
    if (!t.live && !t.config)
        (d.active() ? t.live : t.config) = true;
    if (t.live && !d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    if (t.config && !d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("a transient domain has no persistent definition to change"));
    return t;
}

const conf::DiskDef* diskByName(const conf::DomainDef& def, const std::string& name)
{
    for (const auto& d : def.disks)
        if (d.target == name || d.source == name)
            return &d;
    return nullptr;
}

conf::DiskDef* diskByName(conf::DomainDef& def, const std::string& name)
{
    return const_cast<conf::DiskDef*>(diskByName(std::as_const(def), name));
}

std::optional<std::pair<std::string, std::string>> vmmDiskImage(const nlohmann::json& vmInfo, const std::string& id)
{
    if (!vmInfo.is_object() || !vmInfo.contains("config") || !vmInfo["config"].is_object())
        return std::nullopt;
    const auto& config = vmInfo["config"];
    if (!config.contains("disks") || !config["disks"].is_array())
        return std::nullopt;
    for (const auto& disk : config["disks"])
        if (disk.is_object() && disk.value("id", "") == id && disk.contains("path") && disk["path"].is_string())
            return std::make_pair(disk["path"].get<std::string>(), disk.value("image_type", "raw"));
    return std::nullopt;
}

rpc::RemoteError remoteError(const std::exception_ptr& e)
{
    try {
        std::rethrow_exception(e);
    } catch (const rpc::RpcError& r) {
        return r.error();
    } catch (const conf::ConfError& c) {
        return rpc::RpcError(c.code(), VIR_FROM_DOMAIN, std::string(conf::errorCodePrefix(c.code())) + ": " + c.what())
            .error();
    } catch (const std::exception& x) {
        return error(VIR_ERR_INTERNAL_ERROR, x.what()).error();
    } catch (...) {
        return error(VIR_ERR_INTERNAL_ERROR, "unknown exception").error();
    }
}

std::string uuidText(const rpc::Uuid& u)
{
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < u.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out += '-';
        out += hex[u[i] >> 4];
        out += hex[u[i] & 15];
    }
    return out;
}

rpc::Uuid uuidBytes(const std::string& text)
{
    rpc::Uuid u{};
    size_t n = 0;
    for (size_t i = 0; i + 1 < text.size() && n < u.size(); ++i) {
        if (text[i] == '-')
            continue;
        u[n++] = static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16));
        ++i;
    }
    return u;
}

}  // namespace mica::domain
