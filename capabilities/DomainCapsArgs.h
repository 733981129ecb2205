// Checks virConnectGetDomainCapabilities arguments the way libvirt's QEMU driver does,
// with its error codes and messages, so clients react to us as they do to it.
#pragma once

#include <optional>
#include <string>

namespace mica::caps {

// Throws CapsError when a given argument names something mica cannot serve.
void checkDomainCapsArgs(const std::optional<std::string>& emulatorbin, const std::optional<std::string>& arch,
                         const std::optional<std::string>& machine, const std::optional<std::string>& virttype,
                         const std::string& vmmPath);

}  // namespace mica::caps
