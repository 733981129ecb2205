// virtmicad's command line and the paths it implies (design.md, "Names and places").
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "Confinement.h"
#include "RemoteProgram.h"

namespace mica::driver {

struct DaemonOptions {
    std::optional<std::string> root;   // --root DIR: everything under DIR (tests)
    std::optional<DaemonMode> mode;    // --system / --session; default by euid
    int timeoutSecs = 0;               // --timeout: exit when idle this long; 0 = never
    int keepaliveIntervalSecs = 5;
    int keepaliveCount = 5;
    std::optional<std::string> vmm;    // --vmm PATH (for the domain driver)
    std::optional<std::string> hostRoot;  // --host-root DIR: the capabilities probe reads DIR as /
    std::optional<std::string> config;   // --config FILE: read instead of DaemonPaths::configFile
    // --vmm-uids FIRST-LAST or --vmm-user NAME, and --vmm-cgroup-parent DIR, or the same
    // settings of virtmicad.conf: confine every VMM (Confinement.h).
    std::optional<std::string> vmmUids, vmmUser, vmmCgroupParent;
    // --on-stop keep|managedsave, or virtmicad.conf's on_stop: what a stopping daemon does
    // with the running guests (keep: they run on, for the next daemon to take back;
    // managedsave: saved, and restored by the next daemon, as libvirt-guests does).
    std::optional<std::string> onStop;
    std::optional<process::ConfinementPolicy> confinement;   // worked out from those
    // Client limits set on the command line or in virtmicad.conf, by setting name
    // (kClientLimitSettings); the rest keep ClientLimits' defaults.
    std::map<std::string, int> clientLimitsSet;
    bool help = false;
    bool version = false;
};

// Client limits, libvirtd.conf's names and meanings where libvirt has them (docs/virsh.md,
// "Client limits").
struct ClientLimits {
    int maxClients = 5000;              // all sockets together (libvirtd's default)
    int rwReservedClients = 64;         // of those, never given to read-only clients
    int maxAnonymousClients = 20;       // per socket, not yet past CONNECT_OPEN (libvirtd's default)
    int anonymousClientTimeoutSecs = 30;   // 0: never
    int maxClientRequests = 16;         // calls of one client in progress (libvirtd: 5)
    int maxWorkers = 64;                // threads for blocking domain work
    int maxIncomingMib = 256;           // messages still arriving, all clients together
};

// The client-limit settings: virtmicad.conf's name (the option is the same with '-' for
// '_'), the smallest value it takes, and the limit it sets.
struct ClientLimitSetting {
    const char* name;
    int min;
    int ClientLimits::*limit;
};
extern const std::array<ClientLimitSetting, 7> kClientLimitSettings;

// Throws std::invalid_argument with a message for the user.
DaemonOptions parseDaemonOptions(int argc, char** argv);

// The client limits with the defaults filled in. Throws std::invalid_argument when they
// contradict each other (the reserved slots take all of max_clients).
ClientLimits clientLimits(const DaemonOptions& options);
std::string daemonUsage();

struct DaemonPaths {
    DaemonMode mode;
    std::string socketDir;
    std::string rwSocket;
    std::string roSocket;   // empty in session mode: no read-only socket there
    std::string pidFile;
    std::string stateDir;    // status files and per-domain runtime directories
    std::string configDir;   // persistent domain definitions
    std::string logDir;      // per-domain logs
    std::string saveDir;     // managed save images (NAME.save), kept across host reboots
    std::string snapshotDir; // snapshot metadata (NAME/SNAPSHOT.xml), kept across host reboots
    std::string configFile;  // virtmicad.conf (DaemonConfig.h), in configDir; may be missing
};

DaemonPaths daemonPaths(const DaemonOptions& options);

// Takes what the command line left unset from virtmicad.conf (--config FILE, else
// paths.configFile) and works out `confinement` again. Throws std::invalid_argument.
void applyDaemonConfig(DaemonOptions& options, const DaemonPaths& paths);

}  // namespace mica::driver
