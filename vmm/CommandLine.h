// mica-vmm's command line, in the Cloud Hypervisor style: one option per device class,
// each taking "key=value,key=value" (docs/vmm.md lists them).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "MemoryImage.h"
#include "VmConfig.h"

namespace mica {

// A command line that cannot be understood: exit status 2 with this message.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct CommandLine {
    enum class OnReboot { Restart, Exit } onReboot = OnReboot::Restart;
    enum class Seccomp { On, Off, Log } seccomp = Seccomp::On;
    std::string apiSocket;      // "PATH", "path=PATH" or "fd=N"; empty: no API
    unsigned apiTimeoutSeconds = 30;  // --api-timeout: a whole API request, or the wait for one
    std::string eventMonitor;   // "path=PATH" or "fd=N"; empty: none
    std::string seccompSelfTest;  // hidden --x-seccomp-selftest ROLE (tests only)
    bool hasVm = false;         // --kernel given: create and boot a VM at start
    std::string restoreSource;  // --restore source_url=URL: restore a snapshot at start, paused
    snapshot::MemoryRestoreMode restoreMemoryMode = snapshot::MemoryRestoreMode::Copy;
    bool serialGiven = false;   // --serial given (with --restore, it replaces the snapshot's)
    bool statsOnExit = false;   // --stats-on-exit: vm.counters on stderr when the guest stops
    bool showVersion = false;
    bool showFeatures = false;
    bool showHelp = false;
    VmConfig config;
};

CommandLine parseCommandLine(const std::vector<std::string>& args);

// "512M", "5G", "1048576" (bytes), "64K", "1T": throws UsageError naming `what`.
uint64_t parseSize(const std::string& value, const std::string& what);

extern const char* const kUsage;

}  // namespace mica
