#include "DomainCapsArgs.h"

#include <libvirt/virterror.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <iterator>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "Capabilities.h"
#include "HostProbe.h"
#include "i18n.h"

namespace mica::caps {

namespace {

// The names libvirt 9.0 knows (virDomainVirtType and virArch): a name outside these is
// "unknown", one inside them that we cannot serve gets the "not supported" errors.
constexpr std::string_view kVirtTypes[] = {
    "none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test",
    "vmware", "hyperv", "vbox", "phyp", "parallels", "bhyve", "vz", "hvf"};
constexpr std::string_view kArches[] = {
    "i686", "x86_64", "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "ia64", "lm32",
    "loongarch64", "m68k", "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el",
    "openrisc", "parisc", "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32",
    "riscv64", "s390", "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "xtensa",
    "xtensaeb"};

template <std::size_t N>
bool known(const std::string_view (&list)[N], const std::string& v)
{
    return std::find(std::begin(list), std::end(list), v) != std::end(list);
}

template <typename... Args>
std::string format(const char* tmpl, const Args&... args)
{
    int n = std::snprintf(nullptr, 0, tmpl, args.c_str()...);
    if (n < 0)
        return tmpl;
    std::string out(static_cast<std::size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), tmpl, args.c_str()...);
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string canonical(const std::string& path)
{
    std::unique_ptr<char, decltype(&::free)> real(::realpath(path.c_str(), nullptr), ::free);
    return real ? std::string(real.get()) : path;
}

}  // namespace

// Same order of checks as virQEMUCapsCacheLookupDefault: virttype and arch names, the
// emulator and its arch, the machine, then the accelerator.
void checkDomainCapsArgs(const std::optional<std::string>& emulatorbin, const std::optional<std::string>& arch,
                         const std::optional<std::string>& machine, const std::optional<std::string>& virttype,
                         const std::string& vmmPath)
{
    if (virttype && !known(kVirtTypes, *virttype))
        throw CapsError(VIR_ERR_INVALID_ARG, format(_("unknown virttype: %s"), *virttype));
    if (arch && !known(kArches, *arch))
        throw CapsError(VIR_ERR_INVALID_ARG, format(_("unknown architecture: %s"), *arch));
    if (emulatorbin) {
        if (::access(emulatorbin->c_str(), F_OK) != 0)
            throw CapsError(VIR_ERR_SYSTEM_ERROR, format(_("Cannot find emulator binary %s: %s"), *emulatorbin,
                                                         std::string(std::strerror(errno))));
        if (canonical(*emulatorbin) != canonical(vmmPath))
            throw CapsError(VIR_ERR_CONFIG_UNSUPPORTED,
                            format(_("emulator '%s' is not supported: this driver runs only '%s'"), *emulatorbin,
                                   vmmPath));
    }
    if (arch && *arch != kArch) {
        if (emulatorbin)
            throw CapsError(VIR_ERR_INVALID_ARG,
                            format(_("architecture from emulator '%s' doesn't match given architecture '%s'"),
                                   std::string(kArch), *arch));
        // libvirt reports this one as an invalid argument, not as unsupported configuration.
        throw CapsError(VIR_ERR_INVALID_ARG,
                        format(_("unable to find any emulator to serve '%s' architecture"), *arch));
    }
    if (machine && *machine != kMachine)
        throw CapsError(VIR_ERR_INVALID_ARG,
                        format(_("the machine '%s' is not supported by emulator '%s'"), *machine, vmmPath));
    if (virttype && *virttype != "kvm")
        throw CapsError(VIR_ERR_INVALID_ARG,
                        format(_("the accel '%s' is not supported by '%s' on this host"), *virttype, vmmPath));
}

}  // namespace mica::caps
