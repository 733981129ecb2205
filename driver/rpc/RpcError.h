// The one exception type a procedure handler throws to fail a call: it becomes the
// remote_error of the REPLY. Anything else escaping a handler is reported as an
// internal error, never allowed to take the daemon down.
#pragma once

#include <libvirt/virterror.h>

#include <initializer_list>
#include <stdexcept>
#include <string>

#include "RemoteTypes.h"

namespace mica::rpc {

class RpcError : public std::runtime_error {
public:
    RpcError(virErrorNumber code, virErrorDomain domain, const std::string& message)
        : std::runtime_error(message)
    {
        error_.code = code;
        error_.domain = domain;
        error_.message = message;
        error_.str1 = message;
    }
    const RemoteError& error() const { return error_; }

private:
    RemoteError error_;
};

// Fills the %s of a translated message in order. Translations may not reorder
// arguments this way, which is why messages keep to one or two of them.
inline std::string formatMessage(const char* fmt, std::initializer_list<std::string> args)
{
    std::string out;
    auto arg = args.begin();
    for (const char* p = fmt; *p; ++p) {
        if (p[0] == '%' && p[1] == 's' && arg != args.end()) {
            out += *arg++;
            ++p;
        } else {
            out += *p;
        }
    }
    return out;
}

}  // namespace mica::rpc
