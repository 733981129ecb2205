// DomainManager: starting and stopping domains, and the jobs that change a running one.
// The blocking halves (launching a VMM, its REST calls) run on the worker pool; what
// they come back with is applied here, on the loop thread, if the domain still runs the
// VMM they talked to (Domain::incarnation).
#include "DomainManager.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cerrno>
#include <random>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "Cgroup.h"
#include "ConfError.h"
#include "CrashPoint.h"
#include "DiskImages.h"
#include "ManagerSupport.h"
#include "SaveImage.h"
#include "SecLabel.h"
#include "Tap.h"
#include "ThreadAffinity.h"
#include "VmConfigTranslator.h"
#include "VmmClient.h"
#include "VmmLaunch.h"
#include "VmmLock.h"
#include "i18n.h"

namespace mica::domain {

using rpc::RpcError;

namespace {

// Destroy: how long the VMM gets to end after SIGKILL before destroy reports failure
// (a process stuck in the kernel, in uninterruptible sleep on a dead NFS disk, say).
constexpr std::int64_t kKillWaitMs = 10000;

// A start's id: random, so that records of two starts (of two daemons) never agree by
// chance.
std::string newStartId()
{
    std::random_device rd;
    char text[17];
    std::snprintf(text, sizeof text, "%08x%08x", rd(), rd());
    return text;
}

rpc::RemoteError notRunning()
{
    return error(VIR_ERR_OPERATION_INVALID, _("domain is not running")).error();
}

}  // namespace

// --- start ------------------------------------------------------------------------

void DomainManager::start(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY | VIR_DOMAIN_START_FORCE_BOOT);
    if (flags & VIR_DOMAIN_START_AUTODESTROY)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("autodestroy is not supported"));
    Domain& d = find(dom);
    if (d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is already running"));
    bool paused = flags & VIR_DOMAIN_START_PAUSED;
    bool forceBoot = flags & VIR_DOMAIN_START_FORCE_BOOT;
    runJob(d, "start", [this, paused, forceBoot](Domain& x) { startOrRestore(x, paused, forceBoot); }, std::move(done));
}

void DomainManager::startOrRestore(Domain& x, bool paused, bool forceBoot)
{
    if (x.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is already running"));
    // As libvirt's QEMU driver: a managed save image is where the domain goes on
    // from, unless the caller forces a fresh boot (which discards the image).
    std::string image = store_.managedSavePath(x.def.name);
    if (x.persistent && store_.hasManagedSave(x.def.name)) {
        if (forceBoot) {
            if (::unlink(image.c_str()) < 0 && errno != ENOENT)
                fail(VIR_ERR_OPERATION_FAILED, image + ": " + std::strerror(errno));
            store_.note(x.def.name, "managed save image discarded (start with force boot)");
        } else {
            bool wasRunning = true;
            RestoreFrom from{image, saveImageDef(image, &wasRunning), true};
            if (from.def.uuid != x.def.uuid || from.def.name != x.def.name)
                fail(VIR_ERR_OPERATION_FAILED,
                     conf::subst(_("managed save image %1 belongs to domain '%2' (%3), not this one"),
                                 {image, from.def.name, from.def.uuid}));
            startDomain(x, paused || !wasRunning, {}, std::move(from));
            return;
        }
    }
    startDomain(x, paused);
}

void DomainManager::createXml(const std::string& xml, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_VALIDATE);
    conf::DomainDef def = parseNew(xml, (flags & VIR_DOMAIN_START_VALIDATE) ? VIR_DOMAIN_DEFINE_VALIDATE : 0);
    bool paused = flags & VIR_DOMAIN_START_PAUSED;
    Domain* existing = domains_.count(def.uuid) ? domains_[def.uuid].get() : findByName(def.name);
    if (!existing) {
        auto owned = std::make_unique<Domain>();
        owned->persistent = false;
        owned->def = def;
        Domain& d = insert(std::move(owned));
        runJob(d, "create", [this, paused](Domain& x) { startDomain(x, paused); }, std::move(done));
        return;
    }
    checkCanStartAs(*existing, def);
    runJob(*existing, "create", [this, def, paused](Domain& x) {
        checkCanStartAs(x, def);
        // A persistent domain started from other XML keeps its definition.
        x.newDef = x.def;
        x.def = def;
        startDomain(x, paused, [](Domain& y) {
            if (y.newDef)
                y.def = *std::exchange(y.newDef, std::nullopt);
        });
    }, std::move(done));
}

void DomainManager::checkCanStartAs(const Domain& e, const conf::DomainDef& def)
{
    if (e.active() || e.starting)
        fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("domain '%1' is already running"), {def.name}));
    if (e.def.uuid != def.uuid || e.def.name != def.name)
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("domain '%1' already exists with uuid %2"),
                                                   {e.def.name, e.def.uuid}));
}

void DomainManager::startDomain(Domain& d, bool paused, std::function<void(Domain&)> undoFailure,
                                std::optional<RestoreFrom> restore)
{
    // Every failure, now or from the worker, ends here: the job answers, and a transient
    // domain that never ran goes away.
    auto failStart = [this, undoFailure](Domain& x, const rpc::RemoteError& e) {
        x.starting = false;
        x.startingCid.reset();
        x.events.reset();
        if (x.vmmUid)
            process::removeCgroup(cgroupOf(x.def));
        x.vmmUid.reset();
        // Only with the lock: without it, the directory is another VMM's of this domain.
        if (x.lock) {
            store_.removeDomainDir(x.def.name);
            x.lock.reset();
        }
        if (undoFailure)
            undoFailure(x);
        finishJob(x, {e, {}});
        if (!x.persistent && !x.active())
            erase(x);
    };

    process::VmmLaunchRequest rq;
    conf::DomainDef def;
    conf::RuntimePaths paths;
    try {
        if (d.newDef)
            d.def = *std::exchange(d.newDef, std::nullopt);
        def = restore ? restore->def : d.def;
        const std::string name = def.name;
        paths.stateDir = store_.paths().stateDir;
        // <cid auto='yes'/>: the lowest guest CID no running or starting domain uses.
        std::set<unsigned> cids;
        for (auto& [uuid, other] : domains_) {
            if (other->active() && other->live.vsock)
                cids.insert(other->live.vsock->cid);
            if (other->startingCid)
                cids.insert(*other->startingCid);
        }
        while (cids.count(paths.autoVsockCid))
            ++paths.autoVsockCid;

        conf::Translation t;
        try {
            t = conf::toVmConfig(def, paths);
        } catch (const conf::ConfError& e) {
            failConf(e);
        }
        // Each disk's backing chain, read before the VMM exists: it is handed the chain's
        // files and the live XML shows them. A refused chain (a link of unstated format,
        // a loop) fails the start here, naming the disk. These are a few reads of image
        // headers, done on the loop as the status file's writes below are.
        for (auto& disk : def.disks)
            disk.backingChain = readBackingChain(disk);
        rq.backingFiles = backingFiles(def);
        process::crashPoint("start-begin");
        std::string runDir = store_.runDir(name);
        checkTuningCanApply(def.tune);
        rq.confinement = confinementFor(def);
        store_.makeDomainDir(name, rq.confinement.has_value());
        // The lock before anything in the directory is touched: held, it means a VMM of
        // this domain still runs (a restarted daemon stops any it does not take back), and
        // its files are not ours to remove.
        d.lock = process::VmmLock::tryAcquire(store_.lockPath(name));
        if (!d.lock)
            fail(VIR_ERR_OPERATION_FAILED,
                 conf::subst(_("another VMM of domain '%1' still runs: it holds %2"), {name, store_.lockPath(name)}));
        std::error_code ec;
        std::filesystem::remove_all(runDir, ec);
        std::filesystem::remove_all(store_.jailDir(name), ec);
        if (::mkdir(runDir.c_str(), 0700) < 0)
            throw std::runtime_error(runDir + ": " + std::strerror(errno));
        if (rq.confinement) {
            // The run directory is the VMM's own (its sockets, a restore's snapshot);
            // no other VMM's uid may look in.
            process::chownTree(runDir, rq.confinement->uid, rq.confinement->gid);
            std::filesystem::create_directory(rq.confinement->jail);   // root's, empty
            process::createCgroup(rq.confinement->cgroup);
            d.vmmUid = rq.confinement->uid;
            d.vmmGid = rq.confinement->gid;
            // Before the VMM's first instruction: its limits hold from the start.
            applyTuning(def.tune, rq.confinement->cgroup);
        }
        d.vmmDir = runDir;
        d.vmmHoldsLock = true;
        d.apiSocket = runDir + "/api.sock";
        d.createdTaps.clear();
        d.destroying = d.guestPoweredOff = false;
        d.events = process::VmmEventChannel::open(runDir + "/events");

        // The TAP names the VMM will open: given, or generated from the uuid.
        for (size_t i = 0; i < def.nets.size(); ++i)
            if (def.nets[i].targetDev.empty())
                def.nets[i].targetDev = conf::generatedTapName(def, i);
        for (const auto& action : t.hostActions) {
            unsigned pairs = 1;
            for (const auto& net : def.nets)
                if (net.targetDev == action.tap)
                    pairs = std::max(1u, net.queues);
            rq.taps.push_back({action.tap, action.bridge, pairs, action.mtu});
        }
        rq.argv = {vmmPath_, "--api-socket", d.apiSocket, "--event-monitor", "fd=3"};
        if (def.onReboot == conf::LifecycleAction::Destroy)
            rq.argv.insert(rq.argv.end(), {"--on-reboot", "exit"});
        rq.apiSocket = d.apiSocket;
        rq.logPath = store_.logPath(name);
        rq.config = nlohmann::json(t.config);
        rq.paused = paused;
        store_.note(name, (restore ? "restoring from " + restore->image + " with " : "starting ") + vmmPath_);
    } catch (...) {
        failStart(d, remoteError(std::current_exception()));
        return;
    }
    auto writer = std::make_shared<UniqueFd>();
    try {
        *writer = d.events->writer();
    } catch (...) {
        failStart(d, remoteError(std::current_exception()));
        return;
    }
    rq.eventFd = writer->get();
    rq.lockFd = d.lock->fd();
    // Recorded before the VMM exists: a daemon dying from here on leaves a status that
    // says a start was under way, which the next daemon finishes by stopping whatever
    // VMM it finds (DomainManager::load) and deleting the TAPs this start may create:
    // those that do not exist yet. The second record, with the VMM's pid and the TAPs it
    // did create, is written before the VMM may run (VmmProcess::spawn's gate).
    DomainStatus starting;
    starting.def = def;
    starting.starting = true;
    starting.startId = d.startId = newStartId();
    starting.vmmDir = d.vmmDir;
    starting.vmmUid = d.vmmUid;
    starting.vmmGid = d.vmmGid;
    starting.persistent = d.persistent;
    starting.state = VIR_DOMAIN_SHUTOFF;
    starting.id = 0;   // none yet (the parser takes no negative id)
    for (const auto& tap : rq.taps)
        if (!process::tapExists(tap.name))
            starting.createdTaps.push_back(tap.name);
    try {
        store_.saveStatus(starting);
    } catch (const std::exception& e) {
        failStart(d, error(VIR_ERR_OPERATION_FAILED, conf::subst(_("cannot record the start: %1"), {e.what()})).error());
        return;
    }
    process::crashPoint("start-status-written");
    rq.spawned = [store = &store_, starting, lockFd = rq.lockFd](pid_t pid, const std::vector<std::string>& taps) mutable {
        process::VmmLock::recordPid(lockFd, pid);
        starting.pid = pid;
        starting.createdTaps = taps;
        store->saveStatus(starting);   // throws: the VMM never runs, the start fails
    };
    d.starting = true;
    if (def.vsock && def.vsock->autoCid)
        d.startingCid = paths.autoVsockCid;

    // Plain data in, plain data out: nothing here may own an answer (WorkerPool.h).
    std::string restoreImage = restore ? restore->image : std::string();
    bool managedImage = restore && restore->managed;
    bool fromSnapshot = restore && restore->fromSnapshot;
    std::string restoreDir = store_.runDir(def.name) + "/restore";
    pool_.run([this, rq = std::move(rq), writer, uuid = d.def.uuid, serial = d.serial, def, paused,
               cid = paths.autoVsockCid, failStart, restoreImage, restoreDir, managedImage,
               fromSnapshot]() mutable -> std::function<void()> {
        auto result = std::make_shared<process::VmmLaunchResult>();
        try {
            if (!restoreImage.empty()) {
                // The VMM restores from a snapshot directory: the image's config and
                // state go there (and away again once vm.restore has read them); the
                // RAM it reads from the image itself, handed over as an fd.
                std::filesystem::create_directories(restoreDir);
                SaveImageHeader h = extractSaveImage(restoreImage, restoreDir);
                if (rq.confinement)
                    process::chownTree(restoreDir, rq.confinement->uid, rq.confinement->gid);
                rq.restoreUrl = "file://" + restoreDir;
                rq.restoreMemoryFile = restoreImage;
                rq.restoreMemoryOffset = h.memoryOffset;
                // Private anonymous RAM (the default) maps the image's pages as the guest
                // touches them: the guest runs at once, and untouched RAM is never read.
                // The image must then stay as it is while the guest runs, which it does:
                // saves write a new file and rename it, and removing it keeps the inode.
                const auto& mb = def.memoryBacking;
                rq.restoreOnDemand = !mb.hugepages && !mb.memfd() && !mb.shared();
            }
            *result = process::launchVmm(rq);
        } catch (const std::exception& e) {
            result->error = e.what();
        }
        if (!restoreImage.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(restoreDir, ec);
        }
        return [this, result, uuid, serial, def, paused, cid, failStart, restoreImage, managedImage, fromSnapshot] {
            bool restored = !restoreImage.empty();
            auto abandon = [&result] {
                if (result->vmm)
                    result->vmm->kill(SIGKILL);
                result->vmm.reset();
                for (const auto& tap : result->createdTaps)
                    process::deleteTap(tap);
            };
            Domain* dp = findLive(uuid, serial);
            if (!dp) {
                // Cannot happen while the start job holds the domain; if it did, the
                // VMM must not run on unowned.
                abandon();
                return;
            }
            Domain& d = *dp;
            // The live XML's PCI addresses are where the VMM says it put each device.
            conf::DomainDef live = def;
            if (result->vmm) {
                try {
                    conf::applyDeviceTree(live, result->deviceTree);
                    if (!def.tune.emulatorPin.empty())
                        process::pinEmulatorThreads(result->vmm->pid(), def.tune.emulatorPin);
                } catch (const std::exception& e) {
                    abandon();
                    result->error = e.what();
                }
            }
            if (!result->vmm) {
                store_.note(def.name, (restored ? "restore failed: " : "start failed: ") + result->error);
                failStart(d, error(VIR_ERR_OPERATION_FAILED, result->error).error());
                return;
            }
            d.starting = false;
            d.startingCid.reset();
            d.vmm = std::move(*result->vmm);
            d.createdTaps = result->createdTaps;
            d.live = std::move(live);
            // As libvirt's DAC driver: the live XML says who the VMM runs as.
            if (d.vmmUid && !(d.live.seclabel && d.live.seclabel->isStatic))
                d.live.seclabel = conf::SecLabelDef{false, conf::dacLabel(*d.vmmUid, d.vmmGid)};
            if (!result->serialPath.empty() && d.live.serial)
                d.live.serial->source.path = result->serialPath;
            if (d.live.vsock && d.live.vsock->autoCid)
                d.live.vsock->cid = cid;
            d.id = nextId_++;
            d.live.id = d.id;
            ++d.incarnation;
            d.state = paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING;
            d.reason = paused && fromSnapshot ? int(VIR_DOMAIN_PAUSED_FROM_SNAPSHOT)
                       : paused               ? int(VIR_DOMAIN_PAUSED_USER)
                       : fromSnapshot         ? int(VIR_DOMAIN_RUNNING_FROM_SNAPSHOT)
                       : restored             ? int(VIR_DOMAIN_RUNNING_RESTORED)
                                              : int(VIR_DOMAIN_RUNNING_BOOTED);
            saveStatus(d);
            process::crashPoint("start-running-status-written");
            watch(d);
            store_.note(def.name, std::string(restored ? "restored" : "started") + ", pid " +
                                      std::to_string(d.vmm->pid()) + ", id " + std::to_string(d.id));
            // As libvirt's QEMU driver: a managed save image is spent once the domain runs
            // from it (a second start must boot, not go back in time).
            if (managedImage && ::unlink(restoreImage.c_str()) < 0 && errno != ENOENT)
                store_.note(def.name, "cannot remove the managed save image " + restoreImage + ": " +
                                          std::strerror(errno));
            emit(d, VIR_DOMAIN_EVENT_STARTED,
                 fromSnapshot ? VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT
                 : restored   ? VIR_DOMAIN_EVENT_STARTED_RESTORED
                              : VIR_DOMAIN_EVENT_STARTED_BOOTED);
            if (paused)
                emit(d, VIR_DOMAIN_EVENT_SUSPENDED,
                     fromSnapshot ? VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT
                     : restored   ? VIR_DOMAIN_EVENT_SUSPENDED_RESTORED
                                  : VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
            finishJob(d, {std::nullopt, ref(d)});
        };
    });
}

// --- the VMM's end and its events ---------------------------------------------------

void DomainManager::watch(Domain& d)
{
    std::string uuid = d.def.uuid;
    std::uint64_t serial = d.serial;
    loop_.watch(d.vmm->pidfd(), EPOLLIN, [this, uuid, serial](std::uint32_t) {
        Domain* d = findLive(uuid, serial);
        if (d && d->vmm && d->vmm->ended())
            onVmmEnded(*d);
    });
    if (d.events)
        loop_.watch(d.events->fd(), EPOLLIN, [this, uuid, serial](std::uint32_t) {
            if (Domain* d = findLive(uuid, serial))
                readEvents(*d);
        });
}

void DomainManager::readEvents(Domain& d)
{
    if (!d.events)
        return;
    for (const auto& line : d.events->readLines()) {
        auto ev = nlohmann::json::parse(line, nullptr, false);
        if (!ev.is_object() || !ev.contains("event") || !ev["event"].is_string())
            continue;
        std::string name = ev["event"].get<std::string>();
        if (name == "reboot") {
            if (hooks_.reboot)
                hooks_.reboot(ref(d));
        } else if (name == "shutdown") {
            d.guestPoweredOff = true;
        } else if (name.starts_with("block-job-")) {
            onBlockJobEvent(d, name, ev.value("properties", nlohmann::json::object()));
        } else if (name == "device-removed" || name == "device-removal-failed") {
            auto properties = ev.value("properties", nlohmann::json::object());
            if (!properties.is_object() || !properties.contains("id") || !properties["id"].is_string())
                continue;
            std::optional<std::string> failure;
            if (name == "device-removal-failed")
                failure = properties.contains("reason") && properties["reason"].is_string()
                              ? properties["reason"].get<std::string>()
                              : std::string(_("the VMM gave no reason"));
            onDeviceRemoval(d, properties["id"].get<std::string>(), failure);
        }
    }
}

void DomainManager::onVmmEnded(Domain& d)
{
    readEvents(d);   // what the VMM said last is still in the FIFO
    std::optional<int> status = d.vmm->exitStatus();
    if (d.endAs) {
        // A job stopped it (a save: the image is written, whatever ended the process).
        // The job still holds the lock and succeeds now, or goes on (endThen); a
        // transient domain is gone after.
        auto [endReason, endDetail] = *std::exchange(d.endAs, std::nullopt);
        auto then = std::exchange(d.endThen, nullptr);
        bool destroyed = d.destroying;
        if (destroyed)
            endReason = VIR_DOMAIN_SHUTOFF_DESTROYED, endDetail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
        store_.note(d.def.name, "the VMM ended as the job asked");
        std::string uuid = d.def.uuid;
        std::uint64_t serial = d.serial;
        rpc::DomainRef r = ref(d);
        JobDone owner = std::exchange(d.jobDone, nullptr);
        stopped(d, endReason, endDetail);
        if (Domain* again = findLive(uuid, serial)) {
            again->jobDone = std::move(owner);
            if (!then)
                finishJob(*again, {std::nullopt, r});
            else if (destroyed)
                finishJob(*again, {error(VIR_ERR_OPERATION_ABORTED, _("the domain was destroyed during the job")).error(), {}});
            else
                try {
                    then(*again);
                } catch (...) {
                    finishJob(*again, {remoteError(std::current_exception()), {}});
                }
        } else if (owner) {
            owner({std::nullopt, r});
        }
        return;
    }
    int reason, detail;
    if (d.destroying) {
        reason = VIR_DOMAIN_SHUTOFF_DESTROYED;
        detail = VIR_DOMAIN_EVENT_STOPPED_DESTROYED;
    } else if (d.guestPoweredOff || (status && (*status == 0 || *status == 3))) {
        reason = VIR_DOMAIN_SHUTOFF_SHUTDOWN;
        detail = VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN;
    } else {
        reason = VIR_DOMAIN_SHUTOFF_CRASHED;
        detail = VIR_DOMAIN_EVENT_STOPPED_FAILED;
    }
    store_.note(d.def.name, "the VMM ended" + (status ? ", status " + std::to_string(*status) : std::string()));
    // on_poweroff applies to a guest that powered off, on_crash to a VMM that ended
    // otherwise (killed, crashed, a guest triple fault with nowhere to go).
    bool poweredOff = reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN && d.guestPoweredOff;
    bool rebooting = poweredOff && d.rebootOnPoweroff;
    bool restart = rebooting ||
                   (d.persistent && ((poweredOff && d.def.onPoweroff == conf::LifecycleAction::Restart) ||
                                     (reason == VIR_DOMAIN_SHUTOFF_CRASHED &&
                                      d.def.onCrash == conf::LifecycleAction::Restart)));
    std::string uuid = d.def.uuid, name = d.def.name;
    std::uint64_t serial = d.serial;
    if (rebooting && hooks_.reboot)
        hooks_.reboot(ref(d));
    stopped(d, reason, detail, restart);
    if (Domain* again = restart ? findLive(uuid, serial) : nullptr) {
        runJob(*again, "restart", [this](Domain& x) {
            if (x.active() || x.starting)
                finishJob(x, {std::nullopt, ref(x)});
            else
                startDomain(x, false);
        }, [this, name](JobOutcome o) {
            if (o.error)
                store_.note(name, "restart failed: " + o.error->message.value_or(""));
        });
    }
}

void DomainManager::stopped(Domain& d, int reason, int eventDetail, bool restarting)
{
    process::crashPoint("stop-begin");
    loop_.unwatch(d.vmm->pidfd());
    if (d.events)
        loop_.unwatch(d.events->fd());
    d.events.reset();
    closeConsole(d);
    for (const auto& tap : d.createdTaps)
        process::deleteTap(tap);
    d.createdTaps.clear();
    std::error_code ec;
    // The unix sockets of its serial port and console were the daemon's (VmmLaunch hands
    // them over listening); a confined VMM cannot remove them.
    for (const conf::CharSource* source : {d.live.serial ? &d.live.serial->source : nullptr,
                                           d.live.console ? &d.live.console->source : nullptr})
        if (source && source->type == conf::CharSource::Type::Unix && !source->path.empty())
            std::filesystem::remove(source->path, ec);
    if (d.vmmUid)
        process::removeCgroup(cgroupOf(d.def));
    d.vmmUid.reset();
    d.blockJobs.clear();   // the VMM's jobs ended with it
    // A detach still waiting for its event holds the job: it ends with the VMM. (One
    // whose vm.remove-device is still out is answered when that call comes back.)
    bool detachWaiting = false;
    for (const auto& [id, removal] : d.pendingRemovals)
        detachWaiting = detachWaiting || (removal.accepted && !removal.answered);
    d.pendingRemovals.clear();
    d.nextNetAlias = 0;
    // Status, lock file and run directory at once, the lock released after: the VMM is
    // gone, and a start must not find a half-removed directory.
    store_.removeDomainDir(d.def.name);
    d.lock.reset();
    process::crashPoint("stop-cleaned");
    rpc::DomainRef r = ref(d);
    d.vmm.reset();
    d.id = -1;
    ++d.incarnation;
    d.state = VIR_DOMAIN_SHUTOFF;
    d.reason = reason;
    d.destroying = false;
    std::vector<JobDone> destroyers = std::move(d.destroyWaiters);
    d.destroyWaiters.clear();
    if (detachWaiting && d.jobDone)
        finishJob(d, {notRunning(), {}});
    if (hooks_.lifecycle)
        hooks_.lifecycle(r, VIR_DOMAIN_EVENT_STOPPED, eventDetail);
    d.rebootOnPoweroff = false;
    for (auto& w : destroyers)
        w({std::nullopt, r});
    if (!d.persistent && !restarting) {
        erase(d);
        return;
    }
    if (d.newDef)
        d.def = *std::exchange(d.newDef, std::nullopt);
}

// --- destroy ------------------------------------------------------------------------

void DomainManager::destroy(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_DESTROY_GRACEFUL);
    Domain& d = running(dom);
    bool graceful = flags & VIR_DOMAIN_DESTROY_GRACEFUL;
    d.destroyWaiters.push_back(std::move(done));
    if (d.destroying) {
        d.destroyGraceful = d.destroyGraceful && graceful;
        return;
    }
    // SIGTERM first: the VMM stops its vCPUs and exits cleanly. A graceful destroy
    // stops there; otherwise SIGKILL follows (tickDestroys). A job waiting on this VMM
    // sees its connection close and ends; the pidfd answers the destroy.
    d.destroying = true;
    d.destroyGraceful = graceful;
    d.destroyKilled = false;
    d.destroyDeadlineMs = rpc::EventLoop::nowMs() + options_.destroyTermMs;
    process::crashPoint("destroy-begin");
    d.vmm->kill(SIGTERM);
    process::crashPoint("destroy-signalled");
}

void DomainManager::tickDestroys(std::int64_t now)
{
    std::vector<std::pair<std::vector<JobDone>, rpc::RemoteError>> failed;
    for (auto& [uuid, dp] : domains_) {
        Domain& d = *dp;
        if (!d.destroying || !d.vmm || now < d.destroyDeadlineMs)
            continue;
        if (!d.destroyKilled && !d.destroyGraceful) {
            d.vmm->kill(SIGKILL);
            d.destroyKilled = true;
            d.destroyDeadlineMs = now + kKillWaitMs;
            continue;
        }
        d.destroying = false;
        failed.emplace_back(std::move(d.destroyWaiters),
                            error(VIR_ERR_OPERATION_FAILED, d.destroyKilled ? _("the VMM did not end on SIGKILL")
                                                                            : _("the VMM did not end on SIGTERM"))
                                .error());
        d.destroyWaiters.clear();
    }
    for (auto& [waiters, e] : failed)
        for (auto& w : waiters)
            w({e, {}});
}

// --- jobs on a running domain ---------------------------------------------------------

void DomainManager::vmmJob(Domain& d, const char* endpoint, std::function<void(Domain&)> onSuccess,
                           std::optional<nlohmann::json> body, std::vector<std::shared_ptr<UniqueFd>> fds)
{
    vmmCall(d, endpoint, std::move(body), std::move(fds),
            [this, onSuccess](Domain& x, std::optional<rpc::RemoteError> err, const nlohmann::json&) {
                if (err) {
                    finishJob(x, {err, {}});
                    return;
                }
                if (onSuccess)
                    onSuccess(x);
                finishJob(x, {std::nullopt, ref(x)});
            });
}

void DomainManager::vmmCall(Domain& d, const char* endpoint, std::optional<nlohmann::json> body,
                            std::vector<std::shared_ptr<UniqueFd>> fds, VmmAnswer then)
{
    if (!d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    pool_.run([this, socket = d.apiSocket, ep = std::string(endpoint), uuid = d.def.uuid, serial = d.serial,
               incarnation = d.incarnation, then, body, fds]() -> std::function<void()> {
        std::optional<rpc::RemoteError> err;
        nlohmann::json answer;
        try {
            std::vector<int> numbers;
            for (const auto& fd : fds)
                numbers.push_back(fd->get());
            auto r = process::vmmRequest(socket, "PUT", ep, body, process::kVmmCallMs, numbers);
            if (!r.ok())
                err = error(r.status == 409 ? VIR_ERR_OPERATION_INVALID : VIR_ERR_OPERATION_FAILED, r.errorText())
                          .error();
            else
                answer = r.body;
        } catch (const std::exception& e) {
            err = error(VIR_ERR_OPERATION_FAILED, e.what()).error();
        }
        return [this, uuid, serial, incarnation, err, answer, then] {
            Domain* d = findLive(uuid, serial);
            if (!d || !d->jobDone)
                return;   // gone: erase() answered
            if (d->incarnation != incarnation || !d->active()) {
                finishJob(*d, {notRunning(), {}});
                return;
            }
            try {
                then(*d, err, answer);
            } catch (...) {
                finishJob(*d, {remoteError(std::current_exception()), {}});
            }
        };
    });
}

void DomainManager::shutdown(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    if (flags & ~static_cast<unsigned>(VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN))
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("only the ACPI power button shutdown mode is supported"));
    // Stays running until the guest powers off; the VMM's exit is the "stopped" event.
    runJob(running(dom), "shutdown", [this](Domain& d) { vmmJob(d, "vm.power-button", {}); }, std::move(done));
}

void DomainManager::reboot(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    if (flags & ~static_cast<unsigned>(VIR_DOMAIN_REBOOT_ACPI_POWER_BTN))
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("only the default and ACPI power button reboot modes are supported"));
    bool acpi = flags & VIR_DOMAIN_REBOOT_ACPI_POWER_BTN;
    runJob(running(dom), "reboot", [this, acpi](Domain& d) {
        if (acpi) {
            // As libvirt's QEMU driver does for this mode: the guest is asked to power
            // off and, when it has, the domain starts again instead of shutting off.
            vmmJob(d, "vm.power-button", [](Domain& x) { x.rebootOnPoweroff = true; });
            return;
        }
        // The default mode resets the machine, which boots the same configuration again
        // (there is no ACPI reboot request a guest could answer). As libvirt's QEMU
        // driver after its reboot: running, and the reason says it booted.
        vmmJob(d, "vm.reboot", [this](Domain& x) {
            x.state = VIR_DOMAIN_RUNNING;
            x.reason = VIR_DOMAIN_RUNNING_BOOTED;
            saveStatus(x);
        });
    }, std::move(done));
}

void DomainManager::reset(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    checkFlags(flags, 0);
    runJob(running(dom), "reset", [this](Domain& d) {
        vmmJob(d, "vm.reboot", [this](Domain& x) {
            if (x.state == VIR_DOMAIN_PAUSED) {
                x.state = VIR_DOMAIN_RUNNING;
                x.reason = VIR_DOMAIN_RUNNING_BOOTED;
                saveStatus(x);
            }
        });
    }, std::move(done));
}

void DomainManager::suspend(const rpc::DomainRef& dom, JobDone done)
{
    runJob(running(dom), "suspend", [this](Domain& d) {
        if (d.active() && d.state == VIR_DOMAIN_PAUSED) {
            finishJob(d, {std::nullopt, ref(d)});   // libvirt: suspending a paused domain succeeds
            return;
        }
        vmmJob(d, "vm.pause", [this](Domain& x) {
            x.state = VIR_DOMAIN_PAUSED;
            x.reason = VIR_DOMAIN_PAUSED_USER;
            saveStatus(x);
            emit(x, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
        });
    }, std::move(done));
}

void DomainManager::resume(const rpc::DomainRef& dom, JobDone done)
{
    runJob(running(dom), "resume", [this](Domain& d) {
        if (d.active() && d.state != VIR_DOMAIN_PAUSED)
            fail(VIR_ERR_OPERATION_INVALID, _("domain is not paused"));
        vmmJob(d, "vm.resume", [this](Domain& x) {
            x.state = VIR_DOMAIN_RUNNING;
            x.reason = VIR_DOMAIN_RUNNING_UNPAUSED;
            saveStatus(x);
            emit(x, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
        });
    }, std::move(done));
}

}  // namespace mica::domain
