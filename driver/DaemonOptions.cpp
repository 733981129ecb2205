#include "DaemonOptions.h"

#include <getopt.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "DaemonConfig.h"
#include "i18n.h"

namespace mica::driver {

namespace {

int parseInt(const char* what, const char* text, int min)
{
    char* end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (!*text || *end || v < min || v > 1000000)
        throw std::invalid_argument(std::string(what) + ": " + _("invalid number") + " '" + text + "'");
    return static_cast<int>(v);
}

// --vmm-uids or --vmm-user (one, not both), under --vmm-cgroup-parent.
void resolveConfinement(DaemonOptions& o)
{
    o.confinement.reset();
    if (o.vmmUids && o.vmmUser)
        throw std::invalid_argument(_("--vmm-uids and --vmm-user (vmm_uids and vmm_user): set one, not both"));
    if (o.vmmUids) {
        o.confinement = process::parseUidRange(*o.vmmUids);
    } else if (o.vmmUser) {
        const passwd* user = ::getpwnam(o.vmmUser->c_str());
        if (!user || user->pw_uid == 0)
            throw std::invalid_argument("--vmm-user: '" + *o.vmmUser + "': " +
                                        (user ? _("is root; a VMM never runs as root") : _("no such user")));
        o.confinement = process::ConfinementPolicy{};
        o.confinement->user = *o.vmmUser;
        o.confinement->userUid = user->pw_uid;
        o.confinement->userGid = user->pw_gid;
    } else {
        return;
    }
    o.confinement->cgroupParent = o.vmmCgroupParent.value_or("/sys/fs/cgroup/machine.slice");
}

// "max_clients" -> "--max-clients"
std::string optionName(const char* setting)
{
    std::string option = std::string("--") + setting;
    std::replace(option.begin(), option.end(), '_', '-');
    return option;
}

}  // namespace

const std::array<ClientLimitSetting, 7> kClientLimitSettings = {{
    {"max_clients", 1, &ClientLimits::maxClients},
    {"rw_reserved_clients", 0, &ClientLimits::rwReservedClients},
    {"max_anonymous_clients", 1, &ClientLimits::maxAnonymousClients},
    {"anonymous_client_timeout", 0, &ClientLimits::anonymousClientTimeoutSecs},
    {"max_client_requests", 1, &ClientLimits::maxClientRequests},
    {"max_workers", 1, &ClientLimits::maxWorkers},
    {"max_incoming_mib", 1, &ClientLimits::maxIncomingMib},
}};

std::string daemonUsage()
{
    return _("Usage: virtmicad [OPTIONS]\n"
             "Serve the mica:// libvirt driver over libvirt's RPC protocol.\n"
             "\n"
             "  --root DIR               sockets, state and logs under DIR (for tests)\n"
             "  --system | --session     daemon mode (default: system as root, else session)\n"
             "  --timeout SECS           exit after SECS idle with no clients\n"
             "  --keepalive-interval S   ping a silent client after S seconds (0: never)\n"
             "  --keepalive-count N      drop it after N unanswered pings\n"
             "  --vmm PATH               the mica-vmm binary to run domains with\n"
             "  --vmm-uids FIRST-LAST    run each VMM confined, as a uid of this range of its\n"
             "                           own, without capabilities, in namespaces and a cgroup\n"
             "                           of its own\n"
             "  --vmm-user NAME          run each VMM confined as this user (a system user\n"
             "                           for the purpose), in namespaces and a cgroup of its own\n"
             "  --vmm-cgroup-parent DIR  the cgroup (v2) the VMMs' cgroups go under\n"
             "                           (default /sys/fs/cgroup/machine.slice)\n"
             "  --on-stop keep|managedsave  on SIGTERM, leave the guests running (default) or\n"
             "                           managed-save them, for the next daemon to restore\n"
             "  --max-clients N          clients of all sockets together (default 5000)\n"
             "  --rw-reserved-clients N  of those, slots only the read-write socket may use\n"
             "                           (default 64)\n"
             "  --max-anonymous-clients N  per socket, connections that have not completed\n"
             "                           CONNECT_OPEN (default 20); beyond, it stops accepting\n"
             "  --anonymous-client-timeout SECS  close such a connection after SECS\n"
             "                           (default 30; 0: never)\n"
             "  --max-client-requests N  calls of one client in progress (default 16)\n"
             "  --max-workers N          threads for blocking domain work (default 64)\n"
             "  --max-incoming-mib N     MiB of messages still arriving, all clients\n"
             "                           together, before reading slows down (default 256)\n"
             "  --config FILE            settings to read instead of CONFIGDIR/virtmicad.conf\n"
             "  --host-root DIR          probe the host (capabilities) under DIR instead of /\n"
             "                           (tests: a recorded host of tests/data/domcaps/)\n"
             "  --help, --version\n");
}

DaemonOptions parseDaemonOptions(int argc, char** argv)
{
    enum { kRoot = 1000, kTimeout, kSystem, kSession, kKaInterval, kKaCount, kVmm, kHostRoot, kVmmUids,
           kVmmUser, kVmmCgroupParent, kOnStop, kConfig, kHelp, kVersion, kClientLimit };
    static const std::vector<std::string> limitOptions = [] {
        std::vector<std::string> names;
        for (const auto& setting : kClientLimitSettings)
            names.push_back(optionName(setting.name).substr(2));
        return names;
    }();
    static const std::vector<option> longOpts = [] {
        std::vector<option> opts = {
        {"root", required_argument, nullptr, kRoot},
        {"timeout", required_argument, nullptr, kTimeout},
        {"system", no_argument, nullptr, kSystem},
        {"session", no_argument, nullptr, kSession},
        {"keepalive-interval", required_argument, nullptr, kKaInterval},
        {"keepalive-count", required_argument, nullptr, kKaCount},
        {"vmm", required_argument, nullptr, kVmm},
        {"host-root", required_argument, nullptr, kHostRoot},
        {"vmm-uids", required_argument, nullptr, kVmmUids},
        {"vmm-user", required_argument, nullptr, kVmmUser},
        {"vmm-cgroup-parent", required_argument, nullptr, kVmmCgroupParent},
        {"on-stop", required_argument, nullptr, kOnStop},
        {"config", required_argument, nullptr, kConfig},
        {"help", no_argument, nullptr, kHelp},
        {"version", no_argument, nullptr, kVersion},
        };
        for (std::size_t i = 0; i < limitOptions.size(); ++i)
            opts.push_back({limitOptions[i].c_str(), required_argument, nullptr, kClientLimit + static_cast<int>(i)});
        opts.push_back({nullptr, 0, nullptr, 0});
        return opts;
    }();
    DaemonOptions o;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = ::getopt_long(argc, argv, "", longOpts.data(), nullptr);
        if (c == -1)
            break;
        switch (c) {
        case kRoot: o.root = optarg; break;
        case kTimeout: o.timeoutSecs = parseInt("--timeout", optarg, 0); break;
        case kSystem: o.mode = DaemonMode::System; break;
        case kSession: o.mode = DaemonMode::Session; break;
        case kKaInterval: o.keepaliveIntervalSecs = parseInt("--keepalive-interval", optarg, 0); break;
        case kKaCount: o.keepaliveCount = parseInt("--keepalive-count", optarg, 0); break;
        case kVmm: o.vmm = optarg; break;
        case kHostRoot: o.hostRoot = optarg; break;
        case kVmmUids: o.vmmUids = optarg; break;
        case kVmmUser: o.vmmUser = optarg; break;
        case kOnStop: o.onStop = optarg; break;
        case kVmmCgroupParent: o.vmmCgroupParent = optarg; break;
        case kConfig: o.config = optarg; break;
        case kHelp: o.help = true; break;
        case kVersion: o.version = true; break;
        default:
            if (c >= kClientLimit && c < kClientLimit + static_cast<int>(kClientLimitSettings.size())) {
                const ClientLimitSetting& setting = kClientLimitSettings[static_cast<std::size_t>(c - kClientLimit)];
                o.clientLimitsSet[setting.name] = parseInt(optionName(setting.name).c_str(), optarg, setting.min);
                break;
            }
            throw std::invalid_argument(std::string(_("unknown or incomplete option: ")) +
                                        (optind > 0 && optind <= argc ? argv[optind - 1] : "?"));
        }
    }
    if (optind < argc)
        throw std::invalid_argument(std::string(_("unexpected argument: ")) + argv[optind]);
    if (o.root && o.root->empty())
        throw std::invalid_argument(_("--root needs a directory"));
    resolveConfinement(o);
    clientLimits(o);
    return o;
}

ClientLimits clientLimits(const DaemonOptions& o)
{
    ClientLimits l;
    for (const auto& setting : kClientLimitSettings) {
        if (auto set = o.clientLimitsSet.find(setting.name); set != o.clientLimitsSet.end())
            l.*setting.limit = set->second;
    }
    // Read-only clients get max_clients - rw_reserved_clients slots; none would leave the
    // read-only socket dead while looking configured.
    if (l.rwReservedClients >= l.maxClients)
        throw std::invalid_argument(_("rw_reserved_clients (--rw-reserved-clients) must be below max_clients: ") +
                                    std::to_string(l.rwReservedClients) + " >= " + std::to_string(l.maxClients));
    return l;
}

DaemonPaths daemonPaths(const DaemonOptions& o)
{
    DaemonPaths p;
    if (o.root) {
        // design.md: clients reach a --root daemon as mica+unix:///system?socket=DIR/...
        p.mode = o.mode.value_or(DaemonMode::System);
        p.socketDir = *o.root;
        p.stateDir = *o.root + "/run";
        p.configDir = *o.root + "/etc";
        p.logDir = *o.root + "/log";
        p.saveDir = *o.root + "/save";
        p.snapshotDir = *o.root + "/snapshot";
    } else {
        p.mode = o.mode.value_or(::geteuid() == 0 ? DaemonMode::System : DaemonMode::Session);
        if (p.mode == DaemonMode::System) {
            p.socketDir = "/run/libvirt";
            p.stateDir = "/run/libvirt/mica";
            p.configDir = "/etc/libvirt/mica";
            p.logDir = "/var/log/libvirt/mica";
            // As libvirt's QEMU driver keeps /var/lib/libvirt/qemu/save: not under /run,
            // since a managed save is what lets a guest outlive a host reboot.
            p.saveDir = "/var/lib/libvirt/mica/save";
            // Snapshot metadata outlives the domain's runs and the host's boots, as
            // libvirt's /var/lib/libvirt/qemu/snapshot/NAME/ does.
            p.snapshotDir = "/var/lib/libvirt/mica/snapshot";
        } else {
            // libvirt's client looks in $XDG_RUNTIME_DIR/libvirt, else ~/.cache/libvirt.
            const char* xdg = std::getenv("XDG_RUNTIME_DIR");
            const char* home = std::getenv("HOME");
            std::string base = xdg && *xdg ? std::string(xdg)
                                           : std::string(home ? home : "/tmp") + "/.cache";
            p.socketDir = base + "/libvirt";
            p.stateDir = p.socketDir + "/mica";
            // libvirt's session drivers: $XDG_CONFIG_HOME/libvirt/..., logs under ~/.cache.
            const char* xdgConfig = std::getenv("XDG_CONFIG_HOME");
            std::string homeDir = home ? home : "/tmp";
            p.configDir = (xdgConfig && *xdgConfig ? std::string(xdgConfig) : homeDir + "/.config") + "/libvirt/mica";
            p.logDir = homeDir + "/.cache/libvirt/mica/log";
            p.saveDir = p.configDir + "/save";   // libvirt's session QEMU: ~/.config/libvirt/qemu/save
            p.snapshotDir = p.configDir + "/snapshot";
        }
    }
    p.configFile = p.configDir + "/virtmicad.conf";
    p.rwSocket = p.socketDir + "/virtmicad-sock";
    if (p.mode == DaemonMode::System)
        p.roSocket = p.socketDir + "/virtmicad-sock-ro";
    p.pidFile = o.root || p.mode == DaemonMode::Session ? p.socketDir + "/virtmicad.pid"
                                                        : "/run/virtmicad.pid";
    return p;
}

void applyDaemonConfig(DaemonOptions& o, const DaemonPaths& paths)
{
    // What virtmicad.conf may set: each is also the option of the same name (--vmm-uids, ...),
    // and a number has the smallest value that option takes.
    using Text = std::optional<std::string> DaemonOptions::*;
    const std::map<std::string, Text> texts = {
        {"vmm_uids", &DaemonOptions::vmmUids},
        {"vmm_user", &DaemonOptions::vmmUser},
        {"vmm_cgroup_parent", &DaemonOptions::vmmCgroupParent},
        {"on_stop", &DaemonOptions::onStop},
    };
    std::map<std::string, const ClientLimitSetting*> numbers;
    std::set<std::string> known;
    for (const auto& [name, text] : texts)
        known.insert(name);
    for (const auto& setting : kClientLimitSettings) {
        numbers[setting.name] = &setting;
        known.insert(setting.name);
    }
    const std::string file = o.config.value_or(paths.configFile);
    for (const auto& [name, value] : readDaemonConfig(file, !o.config, known)) {
        if (auto text = texts.find(name); text != texts.end()) {
            if (!(o.*text->second))
                o.*text->second = value;
        } else if (!o.clientLimitsSet.count(name)) {
            o.clientLimitsSet[name] = parseInt((file + ": " + name).c_str(), value.c_str(), numbers.at(name)->min);
        }
    }
    resolveConfinement(o);
    clientLimits(o);
    if (o.onStop && *o.onStop != "keep" && *o.onStop != "managedsave")
        throw std::invalid_argument("--on-stop (on_stop): '" + *o.onStop + "': " + _("expected keep or managedsave"));
}

}  // namespace mica::driver
