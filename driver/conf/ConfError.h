// The one exception driver/conf throws: a libvirt error number (mapped 1:1 to the
// remote_error the daemon sends) and a translated message without libvirt's own prefix
// (the daemon puts libvirt's "unsupported configuration: " and friends in front, as
// libvirtd does: clients show the message as it comes).
#pragma once

#include <libvirt/virterror.h>

#include <initializer_list>
#include <stdexcept>
#include <string>

namespace mica::conf {

class ConfError : public std::runtime_error {
public:
    ConfError(virErrorNumber code, const std::string& message) : std::runtime_error(message), code_(code) {}
    virErrorNumber code() const { return code_; }
    const char* message() const { return what(); }

private:
    virErrorNumber code_;
};

// "VIR_ERR_CONFIG_UNSUPPORTED" for the error codes conf raises (golden .err files, CLI).
const char* errorCodeName(virErrorNumber code);
// The text libvirt puts before the message ("unsupported configuration"),
// so our CLI prints what `virsh define` would.
const char* errorCodePrefix(virErrorNumber code);

// Fills %1, %2, ... of a translated template, so translators see whole sentences.
std::string subst(const char* tmpl, std::initializer_list<std::string> args);

[[noreturn]] void unsupported(const std::string& message);
[[noreturn]] void invalidXml(const std::string& message);

}  // namespace mica::conf
