// virtmicad's command line and the paths it implies (design.md, "Names and places").
#pragma once

#include <cstdint>
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
    // --vmm-uids FIRST-LAST and --vmm-cgroup-parent DIR: confine every VMM (Confinement.h).
    std::optional<process::ConfinementPolicy> confinement;
    bool help = false;
    bool version = false;
};

// Throws std::invalid_argument with a message for the user.
DaemonOptions parseDaemonOptions(int argc, char** argv);
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
};

DaemonPaths daemonPaths(const DaemonOptions& options);

}  // namespace mica::driver
