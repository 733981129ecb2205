// The domains of one daemon: definitions (DomainStore), the mica-vmm process of each
// running one, their states and lifecycle events, and the console streams.
//
// Threads: all domain state lives on the event loop thread. Operations that change a
// domain are jobs (Domain.h, DomainJob.h): they serialize per domain, and their VMM
// calls run on a WorkerPool thread and come back to the loop, which answers through the
// JobDone the caller passed (the RPC layer's DeferredReply). Queries (listings, info,
// state, XML, statistics) take no job and never wait on a VMM call; statistics that need
// the VMM's counters ask every VMM at once on worker threads, bounded by a short timeout.
// VMM events arrive on a FIFO watched by the loop, a VMM's end on its pidfd.
//
// A domain is found by UUID (what libvirt drivers trust in a client's handle). Ids are
// handed out in increasing order and never reused while the daemon runs; a new daemon
// continues after the highest id of the VMMs it finds again.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "DeviceXml.h"
#include "DiskImages.h"
#include "Domain.h"
#include "DomainDef.h"
#include "DomainStore.h"
#include "SnapshotStore.h"
#include "Tuning.h"
#include "DomainTable.h"
#include "EventLoop.h"
#include "RemoteTypes.h"
#include "Stream.h"
#include "VmmProcess.h"
#include "WorkerPool.h"

namespace mica::domain {

struct DomainHooks {
    std::function<void(const rpc::DomainRef&, int event, int detail)> lifecycle;
    std::function<void(const rpc::DomainRef&)> reboot;
    // A block job's news (VIR_DOMAIN_EVENT_ID_BLOCK_JOB by the disk's path, _BLOCK_JOB_2
    // by its target): virDomainBlockJobType, virConnectDomainEventBlockJobStatus.
    std::function<void(const rpc::DomainRef&, const std::string& path, const std::string& target, int type,
                       int status)> blockJob;
    // A device of the running domain came or went, by its alias:
    // VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, _DEVICE_REMOVED or _DEVICE_REMOVAL_FAILED.
    std::function<void(const rpc::DomainRef&, int eventId, const std::string& alias)> device;
    // Its title, description or a metadata element (virDomainMetadataType, namespace) changed.
    std::function<void(const rpc::DomainRef&, int type, const std::optional<std::string>& nsUri)> metadata;
    // The domain capabilities document new definitions are checked against (empty: none).
    std::function<std::string()> domainCaps;
};

// virDomainBlockStats / virDomainInterfaceStats: -1 where mica does not count.
struct BlockStats {
    std::int64_t rdReq = -1, rdBytes = -1, wrReq = -1, wrBytes = -1, errs = -1;
};
struct InterfaceStats {
    std::int64_t rxBytes = -1, rxPackets = -1, rxErrs = -1, rxDrop = -1;
    std::int64_t txBytes = -1, txPackets = -1, txErrs = -1, txDrop = -1;
};

struct DomainInfo {
    int state = 0;
    std::uint64_t maxMemKiB = 0, memoryKiB = 0;
    unsigned vcpus = 0;
    std::uint64_t cpuTimeNs = 0;
};

// virDomainGetBlockJobInfo: found false when the disk has no job.
struct BlockJobInfo {
    bool found = false;
    int type = 0;
    std::uint64_t cur = 0, end = 0;
};

using StatsRecords = std::vector<std::pair<rpc::DomainRef, std::vector<rpc::TypedParam>>>;

struct ManagerOptions {
    // How long a job waits for another job of its domain before giving up (libvirt's
    // VIR_JOB_WAIT_TIME).
    std::int64_t jobWaitMs = 30000;
    // How long statistics wait for a VMM's counters before reporting without them.
    int countersTimeoutMs = 5000;
    // Destroy: SIGTERM, then SIGKILL after this long.
    std::int64_t destroyTermMs = 3000;
    // Set: every VMM runs confined (Confinement.h), with a uid of the range and a cgroup.
    std::optional<process::ConfinementPolicy> confinement;
    // Worker threads at most (virtmicad.conf's max_workers).
    std::size_t maxWorkers = 64;
};

class DomainManager final : public driver::DomainTable {
public:
    DomainManager(rpc::EventLoop& loop, DomainStore& store, std::string vmmPath, DomainHooks hooks,
                  ManagerOptions options = {});
    ~DomainManager() override;
    DomainManager(const DomainManager&) = delete;
    DomainManager& operator=(const DomainManager&) = delete;

    // At daemon start: load definitions, find running VMMs again, start autostart ones.
    void load();
    // From the loop's tick: job wait timeouts and destroy escalation (timers, no I/O).
    void tick();

    // DomainTable
    std::vector<rpc::DomainRef> listAll(std::uint32_t flags) const override;
    std::vector<std::int32_t> activeIds() const override;
    std::vector<std::string> inactiveNames() const override;
    std::size_t activeCount() const override;

    // Every call below throws rpc::RpcError with libvirt's error code when it fails at
    // once; the asynchronous ones otherwise answer through done, exactly once, on the
    // loop thread (possibly before they return).
    rpc::DomainRef lookupByName(const std::string& name) const;
    rpc::DomainRef lookupByUuid(const rpc::Uuid& uuid) const;
    rpc::DomainRef lookupById(int id) const;

    rpc::DomainRef define(const std::string& xml, unsigned flags);

    // schedinfo, memtune, blkiotune (DomainTuning.cpp): the group's tunables, and
    // setting some of them, live (the VMM's cgroup) or in the definition.
    std::vector<rpc::TypedParam> tuneParameters(const rpc::DomainRef& dom, conf::TuneGroup group, unsigned flags) const;
    void setTuneParameters(const rpc::DomainRef& dom, conf::TuneGroup group, const std::vector<rpc::TypedParam>& params,
                           unsigned flags);
    // vcpupin and emulatorpin: the host CPUs of each vCPU (vCPU 0, 1, ...; all usable
    // CPUs for one not pinned) and of the VMM's other threads; pinning live (the VMM
    // moves the vCPU thread and keeps it so across reboots) and/or in the definition.
    std::vector<std::set<unsigned>> vcpuPins(const rpc::DomainRef& dom, unsigned flags) const;
    std::set<unsigned> emulatorPin(const rpc::DomainRef& dom, unsigned flags) const;
    void pinVcpu(const rpc::DomainRef& dom, unsigned vcpu, const std::set<unsigned>& cpus, unsigned flags, JobDone done);
    void pinEmulator(const rpc::DomainRef& dom, const std::set<unsigned>& cpus, unsigned flags);
    // setmem / setmaxmem (VIR_DOMAIN_MEM_MAXIMUM: the definition's <memory>) and setvcpus
    // (DomainResize.cpp): the running domain's balloon, its definition, or both.
    void setMemory(const rpc::DomainRef& dom, std::uint64_t kib, unsigned flags, JobDone done);
    void setVcpus(const rpc::DomainRef& dom, unsigned count, unsigned flags, JobDone done);
    // virsh inject-nmi (DomainInput.cpp): an NMI to every vCPU of the running guest.
    void injectNmi(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    // virsh desc / metadata (DomainMetadata.cpp): <title>, <description> (metadata empty
    // or absent: removed) and the <metadata> element of namespace `uri`.
    void setMetadata(const rpc::DomainRef& dom, int type, const std::optional<std::string>& metadata,
                     const std::optional<std::string>& key, const std::optional<std::string>& uri, unsigned flags);
    std::string metadata(const rpc::DomainRef& dom, int type, const std::optional<std::string>& uri,
                         unsigned flags) const;
    // blkdeviotune (DomainBlock.cpp): a disk's <iotune> (disk: its target or source;
    // none when only the count is asked, nparams 0), and changing some of its fields,
    // live (the VMM's limits, at once) and/or in the definition.
    std::vector<rpc::TypedParam> blockIoTune(const rpc::DomainRef& dom, const std::optional<std::string>& disk,
                                             unsigned flags) const;
    void setBlockIoTune(const rpc::DomainRef& dom, const std::string& disk, const std::vector<rpc::TypedParam>& params,
                        unsigned flags, JobDone done);
    // blockresize (DomainBlock.cpp): a running domain's disk grows to `size` (KiB, bytes
    // with VIR_DOMAIN_BLOCK_RESIZE_BYTES; rounded up to whole sectors); the guest sees it.
    void blockResize(const rpc::DomainRef& dom, const std::string& disk, uint64_t size, unsigned flags, JobDone done);
    void undefine(const rpc::DomainRef& dom, unsigned flags, JobDone done);

    // attach-device / detach-device (DomainDevices.cpp): one <disk>, <interface>, <rng>,
    // <vsock> or virtio <console> added to or removed from the domain, by the
    // VIR_DOMAIN_AFFECT_* flags (CURRENT: live when it runs). A detach finds a disk by
    // its target, a NIC by its MAC, the others by their kind, or any by its alias.
    void attachDevice(const rpc::DomainRef& dom, const std::string& xml, unsigned flags, JobDone done);
    void detachDevice(const rpc::DomainRef& dom, const std::string& xml, unsigned flags, JobDone done);
    void detachDeviceAlias(const rpc::DomainRef& dom, const std::string& alias, unsigned flags, JobDone done);

    // External snapshots, with or without memory (DomainSnapshot.cpp). createSnapshot answers with the
    // new snapshot's name (the client's, or the creation time).
    void createSnapshot(const rpc::DomainRef& dom, const std::string& xml, unsigned flags,
                        std::function<void(JobOutcome, const std::string& name)> done);
    // The snapshots virDomainListAllSnapshots (of: null) or virDomainSnapshotListAll-
    // Children (of: that snapshot) lists for the VIR_DOMAIN_SNAPSHOT_LIST_* flags.
    std::vector<std::string> snapshotNames(const rpc::DomainRef& dom, const std::optional<std::string>& of,
                                           unsigned flags) const;
    // Each throws VIR_ERR_NO_DOMAIN_SNAPSHOT for a name the domain has no snapshot of.
    std::string snapshotXml(const rpc::DomainRef& dom, const std::string& name, unsigned flags) const;
    void checkSnapshot(const rpc::DomainRef& dom, const std::string& name) const;
    std::optional<std::string> currentSnapshot(const rpc::DomainRef& dom) const;
    std::string snapshotParent(const rpc::DomainRef& dom, const std::string& name) const;
    bool snapshotIsCurrent(const rpc::DomainRef& dom, const std::string& name) const;
    // VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY (the overlays stay), with _CHILDREN or
    // _CHILDREN_ONLY; without METADATA_ONLY the snapshot's overlays are merged into the
    // images it kept and removed, with its memory file (a leaf whose overlays the disks
    // run on only).
    void deleteSnapshot(const rpc::DomainRef& dom, const std::string& name, unsigned flags, JobDone done);
    // virDomainRevertToSnapshot: new overlays over the images the snapshot kept; with
    // memory the guest is restored from the snapshot's memory file onto them (running or
    // paused as it was, or as the flags say); without, the domain is left shut off unless
    // asked to start. A running domain is stopped first.
    void revertSnapshot(const rpc::DomainRef& dom, const std::string& name, unsigned flags, JobDone done);

    // Block jobs (DomainBlockJob.cpp): an active commit of a running disk's top into an
    // image of its chain, its progress, and its end (the pivot onto the base, or a cancel).
    void blockCommit(const rpc::DomainRef& dom, const std::string& disk, const std::optional<std::string>& base,
                     const std::optional<std::string>& top, std::uint64_t bandwidth, unsigned flags, JobDone done);
    void blockJobInfo(const rpc::DomainRef& dom, const std::string& disk, unsigned flags,
                      std::function<void(std::optional<rpc::RemoteError>, BlockJobInfo)> done);
    void blockJobAbort(const rpc::DomainRef& dom, const std::string& disk, unsigned flags, JobDone done);
    void start(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    void createXml(const std::string& xml, unsigned flags, JobDone done);
    void destroy(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    void shutdown(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    void reboot(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    void reset(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    void suspend(const rpc::DomainRef& dom, JobDone done);
    // The async job under way (a save), or with VIR_DOMAIN_JOB_STATS_COMPLETED the last
    // one that ended; abortJob stops the one under way (DomainAsyncJob.cpp).
    JobStats jobStats(const rpc::DomainRef& dom, unsigned flags) const;
    void abortJob(const rpc::DomainRef& dom);
    void resume(const rpc::DomainRef& dom, JobDone done);

    // Save images (SaveImage.h; DomainSave.cpp). flags: VIR_DOMAIN_SAVE_RUNNING/PAUSED.
    // dxml: another domain XML of the same domain, kept in the image (save) or restored
    // with (restore); the VMM checks it against the saved state (same devices, vCPUs, RAM).
    void save(const rpc::DomainRef& dom, const std::string& path, const std::optional<std::string>& dxml,
              unsigned flags, JobDone done);
    void restore(const std::string& path, const std::optional<std::string>& dxml, unsigned flags, JobDone done);
    std::string saveImageXml(const std::string& path, unsigned flags) const;
    // save-image-define: the image's XML (and, by flags, whether it resumes) replaced.
    void saveImageDefine(const std::string& path, const std::string& dxml, unsigned flags, JobDone done);
    void managedSave(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    bool hasManagedSave(const rpc::DomainRef& dom, unsigned flags) const;
    void managedSaveRemove(const rpc::DomainRef& dom, unsigned flags, JobDone done);
    // managedsave-dumpxml and managedsave-define: the same on a domain's managed save image.
    std::string managedSaveXml(const rpc::DomainRef& dom, unsigned flags) const;
    void managedSaveDefine(const rpc::DomainRef& dom, const std::string& dxml, unsigned flags, JobDone done);
    // The daemon stops with on_stop = "managedsave": each running persistent domain is
    // managed-saved, side by side, and named for the next daemon, which restores them
    // (load). `done` runs on the loop once every save has ended.
    void managedSaveForStop(std::function<void()> done);

    DomainInfo info(const rpc::DomainRef& dom) const;
    std::pair<int, int> state(const rpc::DomainRef& dom) const;
    std::string xml(const rpc::DomainRef& dom, unsigned flags) const;
    bool isActive(const rpc::DomainRef& dom) const;
    bool isPersistent(const rpc::DomainRef& dom) const;
    bool isUpdated(const rpc::DomainRef& dom) const;
    bool autostart(const rpc::DomainRef& dom) const;
    void setAutostart(const rpc::DomainRef& dom, bool on);
    int vcpus(const rpc::DomainRef& dom, unsigned flags) const;
    std::uint64_t maxMemoryKiB(const rpc::DomainRef& dom) const;
    // Statistics of a running domain, from the VMM's counters and its process.
    // path: a disk's target ("vda") or source file; device: a TAP name or MAC.
    void blockStats(const rpc::DomainRef& dom, const std::string& path, std::function<void(BlockStats)> done);
    // virDomainGetBlockInfo of a disk (path: its target or source), running or not.
    BlockInfo blockInfo(const rpc::DomainRef& dom, const std::string& path, unsigned flags) const;
    void interfaceStats(const rpc::DomainRef& dom, const std::string& device,
                        std::function<void(InterfaceStats)> done);
    // (virDomainMemoryStatTags, value) pairs.
    std::vector<std::pair<int, std::uint64_t>> memoryStats(const rpc::DomainRef& dom) const;
    process::VmmProcess::CpuTimes cpuTimes(const rpc::DomainRef& dom) const;
    // virConnectGetAllDomainStats: doms (empty: every domain matching the listing
    // flags), stats groups (0: all mica has).
    void allStats(const std::vector<rpc::DomainRef>& doms, unsigned stats, unsigned flags,
                  std::function<void(StatsRecords)> done);
    // Connects stream to the serial console's pty. devName: null or "serial0".
    void openConsole(const rpc::DomainRef& dom, const std::optional<std::string>& devName, unsigned flags,
                     std::shared_ptr<rpc::Stream> stream);

private:
    using Counters = std::map<std::string, nlohmann::json>;   // by uuid; {} when the VMM did not say
    struct PendingCounters {
        std::size_t remaining = 0;
        Counters counters;
        std::function<void(Counters)> then;
    };

    Domain& find(const rpc::DomainRef& dom) const;
    Domain* findByName(const std::string& name) const;
    // createXml and restore onto an existing domain: it must be inactive and be `def`'s
    // (same name and uuid); checked before the job and again in it.
    static void checkCanStartAs(const Domain& existing, const conf::DomainDef& def);
    Domain* findLive(const std::string& uuid, std::uint64_t serial) const;
    Domain& insert(std::unique_ptr<Domain> d);
    rpc::DomainRef ref(const Domain& d) const;
    Domain& running(const rpc::DomainRef& dom) const;
    // A new definition: parsed, then checked against the domain capabilities.
    conf::DomainDef parseNew(const std::string& xml, unsigned parseFlags) const;
    // Refuses a definition whose formatted XML would not fit a libvirt reply.
    static void checkFormattedSize(const conf::DomainDef& def);
    // At load: a start the last daemon did not finish (its status says "starting"): the
    // VMM it spawned, if it runs, is killed and waited for.
    void stopHalfStarted(const DomainStatus& s);

    // Jobs (DomainJob.h). body runs once the lock is ours; it throws to fail at once,
    // or arranges for finishJob later.
    void runJob(Domain& d, const char* name, std::function<void(Domain&)> body, JobDone done);
    void finishJob(Domain& d, JobOutcome outcome);
    // Calls the VMM on a worker thread; back on the loop, applies onSuccess if the
    // domain still runs the same VMM, then finishes the job.
    // fds: go with the request (images the VMM may not open itself, TAP queues), fd i
    // of the request being fds[i].
    void vmmJob(Domain& d, const char* endpoint, std::function<void(Domain&)> onSuccess,
                std::optional<nlohmann::json> body = std::nullopt, std::vector<std::shared_ptr<UniqueFd>> fds = {});
    // vmmJob's general form: `then` gets the VMM's answer (its body, or the error) on the
    // loop if the domain still runs that VMM, and finishes the job itself (or keeps it).
    using VmmAnswer = std::function<void(Domain&, std::optional<rpc::RemoteError>, const nlohmann::json& body)>;
    void vmmCall(Domain& d, const char* endpoint, std::optional<nlohmann::json> body,
                 std::vector<std::shared_ptr<UniqueFd>> fds, VmmAnswer then);
    // Live attach and detach (DomainDevices.cpp). attachLive: the host's part (TAP,
    // image and its chain), vm.add-disk/vm.add-net, the live definition; then `config`
    // (the --config half, if asked). detachLive: vm.remove-device, the answer held until
    // the VMM's event or PendingRemoval::answerByMs.
    void attachLive(Domain& d, conf::DeviceDef device, std::function<void(Domain&)> config);
    void detachLive(Domain& d, const std::string& alias, std::function<void(Domain&)> config);
    // The VMM's device-removed (failure: nullopt) or device-removal-failed event.
    void onDeviceRemoval(Domain& d, const std::string& id, const std::optional<std::string>& failure);
    // The detach job's answer once its removal ended (failure: the VMM's reason).
    void answerRemoval(Domain& d, const std::string& alias, const std::optional<std::string>& failure);
    // Detach jobs whose wait is over answer success, the removal still under way.
    void tickRemovals(std::int64_t nowMs);
    // Erases a domain: whoever waits on it is told it is gone.
    void erase(Domain& d);

    // Where a start comes from when it is a restore: the save image, the definition in it
    // (the domain runs that; its persistent definition stays as it is), and whether the
    // image is the domain's managed save (deleted once the domain runs from it).
    struct RestoreFrom {
        std::string image;
        conf::DomainDef def;
        bool managed = false;
        // A snapshot-revert (def's disks are new overlays): reasons and events say
        // FROM_SNAPSHOT rather than RESTORED.
        bool fromSnapshot = false;
    };
    // undoFailure: restores what the caller changed before starting (see createXml).
    void startDomain(Domain& d, bool paused, std::function<void(Domain&)> undoFailure = {},
                     std::optional<RestoreFrom> restore = {});
    // A start job's body: from the managed save image if there is one (unless
    // forceBoot, which discards it), else a boot.
    void startOrRestore(Domain& d, bool paused, bool forceBoot);
    // The save job's body: snapshot the VMM into a new save image at path, then stop it.
    void saveJob(Domain& d, const std::string& path, unsigned flags, const std::optional<std::string>& dxml = {});
    // The paused VMM at `socket` into a new save image at path (SaveImage.h), through a
    // snapshot directory beside it that is gone afterwards; job's figures move on, its
    // abort stops it (SaveImageAborted). A worker's: it blocks. Throws std::runtime_error.
    // vm.pause (true, or throws std::runtime_error) and vm.resume (whether it worked) of
    // the VMM at socket, for a save or memory snapshot; a worker's.
    static bool pauseVmm(const std::string& socket);
    static bool resumeVmm(const std::string& socket);
    static void writeGuestImage(const std::string& socket, const std::string& path, const std::string& xml,
                                bool imageRunning, std::optional<uid_t> vmmUid, gid_t vmmGid, AsyncJob& job);
    // The definition in a save image, checked as a new definition is.
    conf::DomainDef saveImageDef(const std::string& path, bool* wasRunning) const;
    // dxml, parsed as a new definition, which must be of def's domain (name and uuid).
    conf::DomainDef alternativeDef(const std::string& dxml, const conf::DomainDef& def) const;
    // Rewrites the save image at path with dxml (of its domain) on a worker.
    void redefineImage(const std::string& path, const std::string& dxml, unsigned flags, JobDone done);
    void watch(Domain& d);
    void readEvents(Domain& d);
    // A VMM event about a block job (block-job-ready, -completed, -cancelled, -failed).
    void onBlockJobEvent(Domain& d, const std::string& event, const nlohmann::json& properties);
    // After a daemon restart: each disk as the VMM now runs it (a snapshot or pivot the
    // last daemon did not record) and the block jobs under way, from vm.info/vm.block-job.
    void reconcileDisks(Domain& d, const nlohmann::json& vmInfo);
    // The running disk `target` now has `top` as its image, over `chain`: the live
    // definition and the status file, and the persistent definition's disk when it
    // named the old top (a --config edit of its own is left alone).
    void switchDiskImage(Domain& d, const std::string& target, const conf::BackingStoreDef& top,
                         std::vector<conf::BackingStoreDef> chain);
    // The pivot of disk `target` is done: the VMM runs it on `image` (vm.info's path and
    // image_type; unknown: the job's base).
    void onPivoted(Domain& d, const std::string& target, const std::optional<std::pair<std::string, std::string>>& image);
    // Writes a snapshot's metadata and keeps it; throws OPERATION_FAILED.
    void saveSnapshot(Domain& d, const conf::SnapshotDef& def);
    // Makes `name` the current snapshot, on disk and here; throws OPERATION_FAILED.
    void setCurrentSnapshot(Domain& d, const std::string& name);
    // Removes the metadata of `name` (and, by the DELETE_CHILDREN* flags, of its
    // descendants); throws OPERATION_FAILED.
    void dropSnapshotMetadata(Domain& d, const std::string& name, unsigned flags);
    // An active commit of the disk `target` of the VMM at `socket` into `base` (a link of
    // its chain), pivoted once ready: what deleting a snapshot of a running domain does.
    // A worker's: it blocks. Throws rpc::RpcError.
    static void commitLive(const std::string& socket, const std::string& target, const std::string& base);
    void onVmmEnded(Domain& d);
    // Destroy escalation: SIGKILL after SIGTERM, or giving up.
    void tickDestroys(std::int64_t nowMs);
    // restarting: the domain starts again right away (kept even when transient).
    void stopped(Domain& d, int reason, int eventDetail, bool restarting = false);
    void saveStatus(const Domain& d) const;
    void closeConsole(Domain& d);
    // Confinement: the uid of the range no other domain holds, and a domain's cgroup.
    std::optional<process::VmmConfinement> confinementFor(const conf::DomainDef& def) const;
    std::string cgroupOf(const conf::DomainDef& def) const;
    // Tunables into a VMM's cgroup; refused without confinement (no cgroup to set).
    void applyTuning(const conf::TuneDef& tune, const std::string& cgroup) const;
    void checkTuningCanApply(const conf::TuneDef& tune) const;
    // A --config change: `edit` applied to a copy of the persistent definition, saved,
    // then kept; nothing changes when the save fails (OPERATION_FAILED).
    void editDefinition(Domain& d, const std::function<void(conf::DomainDef&)>& edit);
    // editDefinition whose result must pass what a define checks.
    void redefine(Domain& d, const std::function<void(conf::DomainDef&)>& edit);
    void emit(const Domain& d, int event, int detail) const;

    // The counters of the running domains among uuids, asked of every VMM at once.
    void withCounters(const std::vector<const Domain*>& doms, std::function<void(Counters)> then);
    std::vector<rpc::TypedParam> statsOf(const Domain& d, unsigned groups, const nlohmann::json& counters) const;

    rpc::EventLoop& loop_;
    DomainStore& store_;
    SnapshotStore snapshotStore_;
    std::string vmmPath_;
    DomainHooks hooks_;
    ManagerOptions options_;
    std::map<std::string, std::unique_ptr<Domain>> domains_;   // by canonical uuid
    std::map<std::uint64_t, PendingCounters> pendingCounters_;
    // blockJobInfo answers waiting for a VMM, by ticket (workers hold no answer).
    std::map<std::uint64_t, std::function<void(std::optional<rpc::RemoteError>, BlockJobInfo)>> pendingJobInfo_;
    int nextId_ = 1;
    std::uint64_t nextSerial_ = 1;
    std::uint64_t nextTicket_ = 1;
    // Last: destroyed first, so no worker's result reaches the loop once the rest of
    // this object is gone.
    WorkerPool pool_;
};

}  // namespace mica::domain
