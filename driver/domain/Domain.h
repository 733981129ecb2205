// One domain as the daemon holds it: its definitions, its running VMM (process, API
// socket, event channel), its state, its job lock and the answers still owed for it.
// Owned by DomainManager and touched only on the event loop thread; worker threads get
// copies of what they need (see WorkerPool.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <libvirt/libvirt.h>

#include "AsyncJob.h"
#include "DomainDef.h"
#include "DomainJob.h"
#include "RemoteTypes.h"
#include "SnapshotXml.h"
#include "Stream.h"
#include "UniqueFd.h"
#include "VmmEventChannel.h"
#include "VmmLock.h"
#include "VmmProcess.h"

namespace mica::domain {

// How a job (or a destroy) ends: an error, or the domain as it leaves it.
struct JobOutcome {
    std::optional<rpc::RemoteError> error;
    rpc::DomainRef dom;
};
using JobDone = std::function<void(JobOutcome)>;

struct DomainConsole {
    UniqueFd fd;
    std::shared_ptr<rpc::Stream> stream;
};

// A block job the daemon started on a running disk (DomainBlockJob.cpp): an active
// commit of the disk's top into `base`, a link of its chain.
struct BlockJob {
    conf::BackingStoreDef base;
    bool ready = false;                   // the VMM said block-job-ready
};

// A live detach mica-vmm accepted (vm.remove-device), until its device-removed or
// device-removal-failed event (DomainDevices.cpp).
struct PendingRemoval {
    std::string alias;
    // The VMM answered vm.remove-device (the event may come before that answer is back
    // on the loop: `outcome` keeps it until then).
    bool accepted = false;
    // The detach job holds its answer until the event, or until then (libvirt's QEMU
    // driver waits 5 s too): past it, it succeeds with the removal still under way.
    std::int64_t answerByMs = 0;
    bool answered = false;
    // The event, when it came before the VMM's answer: nullopt inside for removed, the
    // VMM's reason for failed.
    std::optional<std::optional<std::string>> outcome;
};

struct Domain {
    std::uint64_t serial = 0;             // tells this object from a later one with the same uuid
    conf::DomainDef def;                  // the definition (next start uses newDef if set)
    std::optional<conf::DomainDef> newDef;  // defined while running (or starting)
    conf::DomainDef live;                 // while running: def as started + runtime facts
    bool persistent = true;
    int id = -1;
    int state = VIR_DOMAIN_SHUTOFF;
    int reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;

    // Bumped whenever the domain starts or stops: the answer of a VMM call made for an
    // earlier run of the domain is stale.
    std::uint64_t incarnation = 0;
    std::optional<process::VmmProcess> vmm;
    std::optional<process::VmmEventChannel> events;
    std::string apiSocket;
    std::string vmmDir;                   // its API socket and event FIFO are here
    std::string startId;                  // of the start that made this VMM (DomainStatus)
    // The domain's VmmLock while this daemon holds it: from before a start spawns the VMM
    // (which holds it too, through the fd it inherits) until the domain stopped; for a
    // VMM of the older layout, which holds none, for as long as it runs. Not held for a
    // VMM found again after a restart: that VMM holds it.
    std::optional<process::VmmLock> lock;
    bool vmmHoldsLock = true;
    std::vector<std::string> createdTaps;
    std::optional<uid_t> vmmUid;          // a confined VMM's uid, while it runs or starts
    gid_t vmmGid = 0;                     // and its gid
    std::shared_ptr<AsyncJob> asyncJob;   // a save under way (AsyncJob.h)
    std::optional<JobStats> lastJob;      // how the last one ended
    bool starting = false;                // a start job is launching the VMM
    std::optional<unsigned> startingCid;  // the vsock CID that start has taken
    bool guestPoweredOff = false;         // the event monitor said "shutdown"
    bool rebootOnPoweroff = false;        // an ACPI reboot: start again once the guest powered off
    // A job stopped the VMM on purpose (a save wrote its image; a snapshot-revert): its
    // end is this (shut-off reason, stopped-event detail) rather than a crash, and it
    // finishes that job, or goes on with it in endThen (on the loop, the job still held).
    std::optional<std::pair<int, int>> endAs;
    std::function<void(Domain&)> endThen;

    // Destroy does not queue behind the job lock (the job may be waiting on the very VMM
    // it kills, as libvirt's destroy does): it signals the VMM and answers when the
    // pidfd says it ended.
    bool destroying = false;
    bool destroyGraceful = true;          // every caller asked for VIR_DOMAIN_DESTROY_GRACEFUL
    bool destroyKilled = false;           // SIGKILL sent
    std::int64_t destroyDeadlineMs = 0;   // next escalation (SIGKILL, or giving up)
    std::vector<JobDone> destroyWaiters;

    DomainJob job;
    JobDone jobDone;                      // the answer of the job holding the lock

    // Snapshot metadata (SnapshotStore.h), oldest first; at most one is current.
    std::vector<conf::SnapshotDef> snapshots;
    // Block jobs of the running domain, by disk target; cleared when it stops.
    std::map<std::string, BlockJob> blockJobs;
    // Live detaches under way, by VMM device id; cleared when it stops.
    std::map<std::string, PendingRemoval> pendingRemovals;
    // A NIC attached live is net<N> with N at least this: never an id the running VMM had
    // for a NIC since removed (the definition's own rule only goes above those present).
    unsigned nextNetAlias = 0;

    std::unique_ptr<DomainConsole> console;

    bool active() const { return id > 0; }
    // The definition the next start uses (and a --config change edits).
    conf::DomainDef& persistentDef() { return newDef ? *newDef : def; }
    const conf::DomainDef& persistentDef() const { return newDef ? *newDef : def; }
};

}  // namespace mica::domain
