#include <algorithm>
#include <cctype>

#include "RemoteProgram.h"
#include "RpcError.h"
#include "i18n.h"

namespace mica::driver {

namespace {

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string modePath(DaemonMode mode)
{
    return mode == DaemonMode::System ? "/system" : "/session";
}

}  // namespace

std::string canonicalConnectUri(const std::optional<std::string>& name, DaemonMode mode)
{
    std::string canonical = "mica://" + modePath(mode);
    if (!name || name->empty())
        return canonical;
    // What the client sends is the URI minus its "+transport" and the remote driver's
    // own query parameters (socket=, mode=, ...): "mica+unix:///system?socket=/x"
    // arrives as "mica:///system".
    const std::string& uri = *name;
    auto colon = uri.find(':');
    std::string scheme = colon == std::string::npos ? "" : lower(uri.substr(0, colon));
    if (scheme != "mica")
        throw rpc::RpcError(VIR_ERR_NO_CONNECT, VIR_FROM_NONE,
                            rpc::formatMessage(_("no connection driver available for %s; this daemon serves %s"),
                                               {uri, canonical}));
    std::string rest = uri.substr(colon + 1);
    if (!rest.starts_with("//"))
        throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                            rpc::formatMessage(_("malformed URI '%s': expected %s"), {uri, canonical}));
    rest = rest.substr(2);
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    path = path.substr(0, path.find_first_of("?#"));
    if (!authority.empty() && lower(authority) != "localhost")
        throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                            rpc::formatMessage(_("URI '%s' names host '%s'; virtmicad only serves its own host"),
                                               {uri, authority}));
    while (path.size() > 1 && path.back() == '/')
        path.pop_back();
    if (path != modePath(mode))
        throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                            rpc::formatMessage(_("unexpected mica URI path in '%s', try %s"), {uri, canonical}));
    return canonical;
}

void registerRemoteProgram(rpc::Dispatcher& dispatcher, const RemoteProgramContext& ctx)
{
    dispatcher.addProgram(rpc::kRemoteProgram, rpc::kRemoteVersion);
    registerConnectProcedures(dispatcher, ctx);
    registerDomainListProcedures(dispatcher, ctx);
    registerEventProcedures(dispatcher);
}

}  // namespace mica::driver
