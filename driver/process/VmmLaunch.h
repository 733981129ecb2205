// Starting one mica-vmm, start to finish: TAPs, the process, its API socket, vm.create,
// vm.boot (and vm.pause) — or, restoring, vm.restore (and vm.resume). Blocking — it waits for the VMM for many seconds on a loaded
// host — so the daemon runs it on a worker thread with plain data in and out, never on
// its event loop. On failure it undoes what it did (kills the VMM, deletes the TAPs it
// created) and says why.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "VmmProcess.h"

namespace mica::process {

struct TapRequest {
    std::string name, bridge;
    unsigned queuePairs = 1;
    std::optional<unsigned> mtu;
};

struct VmmLaunchRequest {
    std::vector<std::string> argv;   // mica-vmm and its options, --api-socket included
    std::string apiSocket, logPath;
    int eventFd = -1;                // becomes the VMM's fd 3; the caller keeps it open
    std::vector<TapRequest> taps;
    nlohmann::json config;           // the VmConfig for vm.create
    // The disks' backing files, which the config does not name: handed over read-only
    // (as the config's own files are), so that a confined VMM can open its chains.
    std::vector<std::string> backingFiles;
    // Set: vm.restore from this snapshot (file:///DIR) instead of vm.create and vm.boot;
    // the snapshot's own config.json is the VM's configuration then.
    std::string restoreUrl;
    // Set with restoreUrl: the RAM is not in that directory but in this file from this
    // byte on (a save image); the VMM gets the file as an fd.
    std::string restoreMemoryFile;
    std::uint64_t restoreMemoryOffset = 0;
    // The RAM mapped from the image as the guest touches it (vm.restore's "ondemand")
    // instead of read in whole first.
    bool restoreOnDemand = false;
    bool paused = false;
    int startTimeoutMs = 30000;      // for the API socket to appear
    std::optional<VmmConfinement> confinement;   // run the VMM confined so
    int lockFd = -1;                 // the domain's VmmLock, handed to the VMM to hold
    // Called (on the launching thread) once the VMM's process exists, with its pid and
    // the TAPs created for it, before it may run (VmmProcess::spawn's beforeRun): the
    // caller records them where a restarted daemon finds them.
    std::function<void(pid_t, const std::vector<std::string>& createdTaps)> spawned;
};

struct VmmLaunchResult {
    std::optional<VmmProcess> vmm;   // set on success
    std::vector<std::string> createdTaps;
    std::string serialPath;          // the pty vm.info reports, if any
    nlohmann::json deviceTree;       // vm.info's: where the VMM put each PCI device
    std::string error;               // set on failure
};

VmmLaunchResult launchVmm(const VmmLaunchRequest& request);

}  // namespace mica::process
