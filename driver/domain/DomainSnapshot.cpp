// External snapshots (virsh snapshot-create-as): each chosen disk gets a new qcow2
// overlay over its current image, which becomes the disk's image; with --memspec the
// guest's RAM and device state go to a file of their own first (a save image,
// SaveImage.h), taken with the guest paused so that memory and disks are of one
// instant. Of a running domain the VMM switches the disk (vm.disk-snapshot); of a
// shut-off one the daemon writes the overlay itself. Then the metadata
// (SnapshotStore.h) that virsh snapshot-list, -info, -dumpxml, -current and -delete
// --metadata read. snapshot-revert puts new overlays over the images the snapshot
// kept and, with memory, restores the guest from its file onto them.
//
// The order keeps a daemon killed at any point from losing or doubling anything: the
// overlays are created (O_EXCL: an existing file is never reused or overwritten), the
// VMM switches each disk, the definitions are saved, the metadata last. A daemon that
// dies after a switch finds the VMM's disks as they are when it starts again
// (reconcileDisks); a snapshot whose metadata it did not write is one taken with
// --no-metadata, its overlay in the definitions all the same.
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <set>

#include "ConfError.h"
#include "CrashPoint.h"
#include "DiskImages.h"
#include "DomainManager.h"
#include "DomainXmlFormatter.h"
#include "DomainXmlParser.h"
#include "Error.h"
#include "ManagerSupport.h"
#include "SaveImage.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// The VIR_DOMAIN_SNAPSHOT_CREATE_* flags mica does not take, and why.
struct Refusal {
    unsigned flag;
    virErrorNumber code;
    const char* why;
};
const Refusal kCreateRefusals[] = {
    {VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE, VIR_ERR_OPERATION_UNSUPPORTED,
     N_("redefining snapshot metadata (--redefine) is not supported by mica")},
    {VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT, VIR_ERR_INVALID_ARG,
     N_("VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT (--current) goes only with --redefine")},
    {VIR_DOMAIN_SNAPSHOT_CREATE_HALT, VIR_ERR_ARGUMENT_UNSUPPORTED,
     N_("halting the domain after a snapshot (--halt) is not supported by mica")},
    {VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT, VIR_ERR_ARGUMENT_UNSUPPORTED,
     N_("reusing existing overlays (--reuse-external) is not supported by mica: it creates each overlay")},
    {VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE, VIR_ERR_ARGUMENT_UNSUPPORTED,
     N_("quiescing the guest's file systems (--quiesce) needs a guest agent, which mica does not have")},
    {VIR_DOMAIN_SNAPSHOT_CREATE_LIVE, VIR_ERR_OPERATION_UNSUPPORTED,
     N_("live snapshot creation (--live) is not supported by mica: the guest pauses while its memory is written")},
};

const unsigned kCreateFlags = VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT |
                              VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA | VIR_DOMAIN_SNAPSHOT_CREATE_HALT |
                              VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT |
                              VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                              VIR_DOMAIN_SNAPSHOT_CREATE_LIVE | VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE;

[[noreturn]] void noSnapshot(const std::string& name)
{
    fail(VIR_ERR_NO_DOMAIN_SNAPSHOT, conf::subst(_("no domain snapshot with matching name '%1'"), {name}));
}

const conf::SnapshotDef& snapshotOf(const Domain& d, const std::string& name)
{
    for (const auto& s : d.snapshots)
        if (s.name == name)
            return s;
    noSnapshot(name);
}

bool hasChildren(const Domain& d, const std::string& name)
{
    return std::any_of(d.snapshots.begin(), d.snapshots.end(), [&](const auto& s) { return s.parent == name; });
}

// The snapshot's descendants (all of them, or its children only), oldest first.
std::vector<std::string> descendants(const Domain& d, const std::string& name, bool all)
{
    std::set<std::string> below{name};
    std::vector<std::string> out;
    // Creation order puts parents before children: one pass finds every generation.
    for (const auto& s : d.snapshots)
        if (below.count(s.parent) && (all || s.parent == name)) {
            below.insert(s.name);
            out.push_back(s.name);
        }
    return out;
}

// libvirt's default overlay name: the source with its extension replaced by the
// snapshot's name (/img/base.raw -> /img/base.NAME), or the name appended.
std::string defaultOverlay(const std::string& source, const std::string& snapshot)
{
    auto slash = source.rfind('/');
    auto dot = source.rfind('.');
    std::string stem = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1) ? source.substr(0, dot)
                                                                                                   : source;
    return stem + "." + snapshot;
}

// One entry per disk of def, in its order: the snapshot's choice for it or the default
// (an overlay, but none for a read-only disk), each overlay named.
std::vector<conf::SnapshotDiskDef> alignDisks(const conf::SnapshotDef& snap, const conf::DomainDef& def)
{
    std::map<std::string, const conf::SnapshotDiskDef*> given;
    for (const auto& sd : snap.disks) {
        const conf::DiskDef* disk = diskByName(def, sd.name);
        if (!disk)
            fail(VIR_ERR_CONFIG_UNSUPPORTED, conf::subst(_("no disk named '%1'"), {sd.name}));
        if (!given.emplace(disk->target, &sd).second)
            fail(VIR_ERR_CONFIG_UNSUPPORTED, conf::subst(_("disk '%1' was specified twice"), {disk->target}));
    }
    std::vector<conf::SnapshotDiskDef> out;
    std::set<std::string> overlays;
    for (const auto& disk : def.disks) {
        conf::SnapshotDiskDef x;
        if (auto it = given.find(disk.target); it != given.end())
            x = *it->second;
        else if (disk.readonly)
            x.snapshot = conf::SnapshotDiskDef::Mode::No;
        x.name = disk.target;
        if (x.snapshot == conf::SnapshotDiskDef::Mode::External) {
            if (disk.readonly)
                fail(VIR_ERR_CONFIG_UNSUPPORTED,
                     conf::subst(_("disk '%1' is read-only: it takes no snapshot (give it snapshot='no')"), {disk.target}));
            if (disk.source.empty() || disk.source[0] != '/')
                fail(VIR_ERR_CONFIG_UNSUPPORTED,
                     conf::subst(_("disk '%1': its source '%2' is not an absolute path, which an overlay's header "
                                   "must name"), {disk.target, disk.source}));
            if (x.file.empty())
                x.file = defaultOverlay(disk.source, snap.name);
            if (!overlays.insert(x.file).second)
                fail(VIR_ERR_CONFIG_UNSUPPORTED,
                     conf::subst(_("disk '%1': overlay '%2' is another disk's too"), {disk.target, x.file}));
            for (const auto& other : def.disks)
                if (other.source == x.file)
                    fail(VIR_ERR_CONFIG_UNSUPPORTED, conf::subst(_("disk '%1': overlay '%2' is disk '%3''s image"),
                                                                 {disk.target, x.file, other.target}));
        }
        out.push_back(std::move(x));
    }
    if (overlays.empty() && snap.memoryFile.empty())
        fail(VIR_ERR_INVALID_ARG, _("a disk-only snapshot needs at least one disk with snapshot='external'"));
    if (overlays.count(snap.memoryFile))
        fail(VIR_ERR_CONFIG_UNSUPPORTED, conf::subst(_("the memory file '%1' is an overlay too"), {snap.memoryFile}));
    for (const auto& disk : def.disks)
        if (disk.source == snap.memoryFile)
            fail(VIR_ERR_CONFIG_UNSUPPORTED,
                 conf::subst(_("the memory file '%1' is disk '%2''s image"), {snap.memoryFile, disk.target}));
    return out;
}

// An overlay the daemon creates, empty, for the VMM (or itself) to write.
struct Overlay {
    std::string target, path;
    std::shared_ptr<UniqueFd> fd;
};

// A reverted disk's new overlay over `source`: named as libvirt names it (a snapshot
// named by the time), with a count added while the name is taken.
std::pair<std::string, UniqueFd> createRevertOverlay(const std::string& source)
{
    std::string stem = defaultOverlay(source, std::to_string(std::time(nullptr)));
    for (int n = 1;; ++n) {
        std::string path = n == 1 ? stem : stem + "-" + std::to_string(n);
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd)
            return {path, std::move(fd)};
        if (errno != EEXIST || n == 100)
            fail(VIR_ERR_OPERATION_FAILED, systemError(path).what());
    }
}

// The disk's image becomes the file at path, of that format.
void setImage(conf::DiskDef& disk, const std::string& path, conf::DiskFormat format)
{
    disk.type = conf::DiskDef::Type::File;
    disk.source = path;
    disk.format = format;
}

// Whether some snapshot of d kept `path` as disk `target`'s image (the source its
// domain XML has): such an image is a snapshot's point in time, never to be removed or
// written. A snapshot whose XML does not parse counts as keeping everything.
bool keptBySnapshot(const Domain& d, const std::string& target, const std::string& path)
{
    for (const auto& s : d.snapshots) {
        try {
            conf::DomainDef def = conf::parseDomainXml(s.domainXml);
            if (const conf::DiskDef* disk = diskByName(def, target); disk && disk->source == path)
                return true;
        } catch (const conf::ConfError&) {
            return true;
        }
    }
    return false;
}

// A disk's chain below its image: as read at its start for a running domain, from the
// images' headers for a shut-off one.
std::vector<conf::BackingStoreDef> chainOf(const conf::DiskDef& disk, bool live)
{
    return live && disk.backingChain ? *disk.backingChain : readBackingChain(disk);
}

void removeOverlays(const std::vector<Overlay>& overlays, size_t from = 0)
{
    for (size_t i = from; i < overlays.size(); ++i)
        ::unlink(overlays[i].path.c_str());
}

}  // namespace

void DomainManager::saveSnapshot(Domain& d, const conf::SnapshotDef& def)
{
    // The new one is written as current before the old current is cleared: a crash in
    // between leaves two marked, of which the newest counts (currentSnapshot).
    try {
        snapshotStore_.save(d.def.name, def);
        process::crashPoint("snapshot-metadata-saved");
        for (auto& s : d.snapshots)
            if (s.current) {
                s.current = false;
                snapshotStore_.save(d.def.name, s);
            }
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
    d.snapshots.push_back(def);
}

void DomainManager::setCurrentSnapshot(Domain& d, const std::string& name)
{
    // As saveSnapshot: the new current one first, then the old one cleared.
    try {
        for (auto& s : d.snapshots)
            if (s.name == name && !s.current) {
                s.current = true;
                snapshotStore_.save(d.def.name, s);
            }
        for (auto& s : d.snapshots)
            if (s.name != name && s.current) {
                s.current = false;
                snapshotStore_.save(d.def.name, s);
            }
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
}

void DomainManager::createSnapshot(const rpc::DomainRef& dom, const std::string& xml, unsigned flags,
                                   std::function<void(JobOutcome, const std::string&)> done)
{
    checkFlags(flags, kCreateFlags);
    for (const auto& r : kCreateRefusals)
        if (flags & r.flag)
            fail(r.code, _(r.why));
    Domain& d = find(dom);
    conf::SnapshotDef snap;
    try {
        snap = conf::parseSnapshotXml(xml);
    } catch (const conf::ConfError& e) {
        failConf(e);
    }
    bool withMemory = !snap.memoryFile.empty();
    if ((flags & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY) && withMemory)
        fail(VIR_ERR_INVALID_ARG, _("a disk-only snapshot saves no memory: give --memspec or --disk-only, not both"));
    if (!(flags & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY) && !withMemory)
        fail(VIR_ERR_OPERATION_UNSUPPORTED,
             _("mica takes external snapshots only: the guest's memory goes to a file of its own (<memory "
               "snapshot='external' file='...'/>, virsh --memspec file=PATH) or nowhere (virsh --disk-only); "
               "internal snapshots are not supported"));
    snap.creationTime = static_cast<std::int64_t>(std::time(nullptr));
    if (snap.name.empty())
        snap.name = std::to_string(snap.creationTime);
    runJob(d, "snapshot", [this, snap, flags, withMemory](Domain& x) mutable {
        for (const auto& s : x.snapshots)
            if (s.name == snap.name)
                fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("domain snapshot '%1' already exists"), {snap.name}));
        bool live = x.active();
        if (!live && x.starting)
            fail(VIR_ERR_OPERATION_INVALID, _("the domain is starting"));
        if (withMemory && !live)
            fail(VIR_ERR_OPERATION_INVALID,
                 _("a shut-off domain has no memory to save: take a disk-only snapshot (--disk-only)"));
        if (withMemory && ::access(snap.memoryFile.c_str(), F_OK) == 0)
            fail(VIR_ERR_OPERATION_INVALID,
                 conf::subst(_("the memory file '%1' exists already: mica writes a new one"), {snap.memoryFile}));
        const conf::DomainDef& def = live ? x.live : x.persistentDef();
        snap.disks = alignDisks(snap, def);
        std::vector<Overlay> overlays;
        for (const auto& sd : snap.disks)
            if (sd.snapshot == conf::SnapshotDiskDef::Mode::External)
                overlays.push_back({sd.name, sd.file, nullptr});
        if (live && overlays.size() > 1 && (flags & VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC))
            fail(VIR_ERR_OPERATION_UNSUPPORTED,
                 _("mica switches a running domain's disks to their overlays one at a time: an atomic snapshot of "
                   "more than one disk is not supported (snapshot one disk at a time)"));
        if (live)
            for (const auto& o : overlays)
                if (x.blockJobs.count(o.target))
                    fail(VIR_ERR_BLOCK_COPY_ACTIVE, conf::subst(_("disk '%1' has a block job: end it first"), {o.target}));
        snap.domainXml = conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
        bool wasRunning = x.state == VIR_DOMAIN_RUNNING;
        snap.state = !live ? "shutoff" : !withMemory ? "disk-snapshot" : wasRunning ? "running" : "paused";
        if (auto current = currentSnapshot(ref(x)))
            snap.parent = *current;
        snap.current = true;
        // The overlays, new files only (an existing one is refused, never overwritten),
        // the VMM's to write when it runs confined.
        for (size_t i = 0; i < overlays.size(); ++i) {
            auto& o = overlays[i];
            o.fd = std::make_shared<UniqueFd>(::open(o.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
            int err = *o.fd ? 0 : errno;
            if (!err && live && x.vmmUid && ::fchown(o.fd->get(), *x.vmmUid, x.vmmGid) < 0)
                err = errno;
            if (err) {
                for (size_t j = 0; j < i + (*o.fd ? 1 : 0); ++j)
                    ::unlink(overlays[j].path.c_str());
                if (err == EEXIST)
                    fail(VIR_ERR_OPERATION_INVALID,
                         conf::subst(_("disk '%1': overlay '%2' exists already (mica creates each overlay; "
                                       "--reuse-external is not supported)"), {o.target, o.path}));
                fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {o.target, systemError(o.path, err).what()}));
            }
        }
        bool metadata = !(flags & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA);
        if (!live) {
            try {
                for (const auto& o : overlays)
                    writeOverlay(*diskByName(x.persistentDef(), o.target), o.fd->get(), o.path);
            } catch (...) {
                removeOverlays(overlays);
                throw;
            }
            editDefinition(x, [&](conf::DomainDef& pd) {
                for (const auto& o : overlays) {
                    conf::DiskDef* disk = diskByName(pd, o.target);
                    setImage(*disk, o.path, conf::DiskFormat::Qcow2);
                }
            });
            if (metadata)
                saveSnapshot(x, snap);
            store_.note(x.def.name, "disk-only snapshot '" + snap.name + "' of the shut-off domain");
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        store_.note(x.def.name, "snapshot '" + snap.name + "': " + (withMemory ? "memory to " + snap.memoryFile + ", " : "") +
                                    "switching " + std::to_string(overlays.size()) + " disk(s) to new overlays");
        // A memory snapshot is a job domjobinfo shows and domjobabort stops, as a save.
        std::shared_ptr<AsyncJob> job;
        if (withMemory) {
            job = std::make_shared<AsyncJob>();
            job->operation = VIR_DOMAIN_JOB_OPERATION_SNAPSHOT;
            job->startedMs = rpc::EventLoop::nowMs();
            job->total = 2 * x.live.memoryKiB * 1024;
            x.asyncJob = job;
        }
        pool_.run([this, overlays, snap, metadata, job, wasRunning, socket = x.apiSocket, uuid = x.def.uuid,
                   serial = x.serial, incarnation = x.incarnation, vmmUid = x.vmmUid,
                   vmmGid = x.vmmGid]() -> std::function<void()> {
            size_t switched = 0;       // the disks the VMM put on their overlays
            bool uncertain = false;    // and whether the next one is unknown
            std::optional<rpc::RemoteError> err;
            bool paused = false, memoryWritten = false, pausedByUs = false;
            if (job) {
                // Memory and disks of one instant: the guest stays paused from before its
                // RAM is written until every disk is on its overlay.
                try {
                    if (wasRunning)
                        paused = pauseVmm(socket);
                    writeGuestImage(socket, snap.memoryFile, snap.domainXml, wasRunning, vmmUid, vmmGid, *job);
                    memoryWritten = true;
                } catch (const SaveImageAborted&) {
                    err = error(VIR_ERR_OPERATION_ABORTED, conf::subst(_("snapshot '%1' was cancelled by a client"),
                                                                       {snap.name})).error();
                } catch (const std::exception& e) {
                    err = error(VIR_ERR_OPERATION_FAILED, conf::subst(_("cannot save the memory to %1: %2"),
                                                                      {snap.memoryFile, e.what()})).error();
                }
            }
            for (const auto& o : overlays) {
                if (err)
                    break;
                try {
                    nlohmann::json body = {{"id", o.target}, {"overlay", o.path}, {"overlay_fd", 0}, {"format", "qcow2"}};
                    auto r = process::vmmRequest(socket, "PUT", "vm.disk-snapshot", body, process::kVmmCallMs,
                                                 {o.fd->get()});
                    if (!r.ok()) {
                        err = error(r.status == 409 ? VIR_ERR_OPERATION_INVALID : VIR_ERR_OPERATION_FAILED,
                                    r.errorText()).error();
                        break;
                    }
                } catch (const std::exception& e) {
                    // No answer: the VMM may have switched the disk all the same; its
                    // vm.info says. If that fails too the overlay stays (it may be the
                    // disk's image now), for a later look to settle.
                    err = error(VIR_ERR_OPERATION_FAILED, o.target + ": " + e.what()).error();
                    try {
                        auto info = process::vmmRequest(socket, "GET", "vm.info", std::nullopt, 5000);
                        auto image = vmmDiskImage(info.body, o.target);
                        if (image && image->first == o.path)
                            ++switched;
                        else if (!image)
                            uncertain = true;
                    } catch (const std::exception&) {
                        uncertain = true;
                    }
                    break;
                }
                ++switched;
            }
            if (paused)
                pausedByUs = !resumeVmm(socket);
            // A snapshot that failed keeps no memory file: it would not match the disks.
            if (err && memoryWritten)
                ::unlink(snap.memoryFile.c_str());
            return [this, overlays, snap, metadata, job, uuid, serial, incarnation, switched, uncertain, err, pausedByUs] {
                Domain* d = findLive(uuid, serial);
                if (!d || !d->jobDone)
                    return;
                if (job) {
                    d->lastJob = jobStatsOf(*job, !err ? VIR_DOMAIN_JOB_COMPLETED
                                               : job->abort ? VIR_DOMAIN_JOB_CANCELLED
                                                            : VIR_DOMAIN_JOB_FAILED);
                    d->asyncJob.reset();
                }
                if (d->incarnation != incarnation || !d->active()) {
                    finishJob(*d, {error(VIR_ERR_OPERATION_FAILED, _("the domain stopped during the snapshot")).error(), {}});
                    return;
                }
                if (pausedByUs && d->state == VIR_DOMAIN_RUNNING) {
                    d->state = VIR_DOMAIN_PAUSED;
                    d->reason = VIR_DOMAIN_PAUSED_SNAPSHOT;
                    saveStatus(*d);
                    emit(*d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
                }
                removeOverlays(overlays, switched + (uncertain ? 1 : 0));   // those the VMM never took
                try {
                    process::crashPoint("snapshot-switched");
                    for (size_t i = 0; i < switched && i < overlays.size(); ++i) {
                        const conf::DiskDef* disk = diskByName(d->live, overlays[i].target);
                        if (!disk || disk->source == overlays[i].path)
                            continue;
                        std::vector<conf::BackingStoreDef> chain{
                            {disk->type == conf::DiskDef::Type::Block ? conf::BackingStoreDef::Type::Block
                                                                     : conf::BackingStoreDef::Type::File,
                             disk->format, disk->source}};
                        for (const auto& link : disk->backingChain.value_or(std::vector<conf::BackingStoreDef>{}))
                            chain.push_back(link);
                        switchDiskImage(*d, overlays[i].target,
                                        {conf::BackingStoreDef::Type::File, conf::DiskFormat::Qcow2, overlays[i].path},
                                        std::move(chain));
                    }
                    if (err) {
                        finishJob(*d, {err, {}});
                        return;
                    }
                    process::crashPoint("snapshot-definitions-saved");
                    if (metadata)
                        saveSnapshot(*d, snap);
                    finishJob(*d, {std::nullopt, ref(*d)});
                } catch (...) {
                    finishJob(*d, {remoteError(std::current_exception()), {}});
                }
            };
        });
    }, [done, name = snap.name](JobOutcome o) { done(std::move(o), name); });
}

void DomainManager::revertSnapshot(const rpc::DomainRef& dom, const std::string& name, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED |
                          VIR_DOMAIN_SNAPSHOT_REVERT_FORCE);
    if (both(flags, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING, VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED))
        fail(VIR_ERR_INVALID_ARG, _("--running and --paused exclude each other"));
    Domain& d = find(dom);
    snapshotOf(d, name);
    runJob(d, "snapshot revert", [this, name, flags](Domain& x) {
        const conf::SnapshotDef snap = snapshotOf(x, name);
        if (x.starting)
            fail(VIR_ERR_OPERATION_INVALID, _("the domain is starting"));
        if (x.active() && !x.persistent)
            fail(VIR_ERR_OPERATION_INVALID,
                 _("reverting a running transient domain would end it: define it first (virsh define)"));
        // The domain as the snapshot holds it; with memory, as its memory file holds it
        // (which is checked whole here, before anything stops).
        bool withMemory = !snap.memoryFile.empty();
        conf::DomainDef def = withMemory ? saveImageDef(snap.memoryFile, nullptr) : parseNew(snap.domainXml, 0);
        if (def.uuid != x.def.uuid)
            fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("snapshot '%1' holds domain %2, not this one"), {name, def.uuid}));
        // The state being left is discarded, as libvirt does: a reverted disk's image
        // goes once nothing needs it, when it is an overlay a snapshot or revert made
        // (right above an image a snapshot kept) and no snapshot kept it itself.
        std::vector<std::string> discarded;
        const conf::DomainDef& now = x.active() ? x.live : x.persistentDef();
        for (const auto& sd : snap.disks) {
            const conf::DiskDef* disk = diskByName(now, sd.name);
            if (sd.snapshot != conf::SnapshotDiskDef::Mode::External || !disk || disk->type != conf::DiskDef::Type::File)
                continue;
            auto chain = chainOf(*disk, x.active());
            if (!chain.empty() && keptBySnapshot(x, disk->target, chain.front().path) &&
                !keptBySnapshot(x, disk->target, disk->source))
                discarded.push_back(disk->source);
        }
        bool start = withMemory || (flags & (VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING | VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED));
        bool paused = (flags & VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED) ||
                      (!(flags & VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING) && snap.state == "paused");
        auto revert = [this, snap, def, withMemory, start, paused, discarded](Domain& y) mutable {
            // Each snapshotted disk goes on a new overlay over the image the snapshot kept,
            // which stays as it is: beneath later snapshots' overlays too, so that
            // reverting to any of them works again.
            std::vector<std::pair<std::string, std::string>> made;   // target, overlay
            try {
                for (const auto& sd : snap.disks) {
                    conf::DiskDef* disk = diskByName(def, sd.name);
                    if (sd.snapshot != conf::SnapshotDiskDef::Mode::External || !disk)
                        continue;
                    auto [path, fd] = createRevertOverlay(disk->source);
                    made.emplace_back(disk->target, path);
                    writeOverlay(*disk, fd.get(), path);
                    setImage(*disk, path, conf::DiskFormat::Qcow2);
                    disk->backingChain.reset();
                }
                // The definition's disks follow; the rest of it stays as last defined.
                editDefinition(y, [&](conf::DomainDef& pd) {
                    for (const auto& [target, path] : made)
                        if (conf::DiskDef* disk = diskByName(pd, target))
                            setImage(*disk, path, conf::DiskFormat::Qcow2);
                });
                setCurrentSnapshot(y, snap.name);
            } catch (...) {
                for (const auto& [target, path] : made)
                    if (!diskByName(y.persistentDef(), target) || diskByName(y.persistentDef(), target)->source != path)
                        ::unlink(path.c_str());
                throw;
            }
            for (const auto& path : discarded)
                ::unlink(path.c_str());
            store_.note(y.def.name, "reverted to snapshot '" + snap.name + "': " + std::to_string(made.size()) +
                                        " disk(s) on new overlays, " + std::to_string(discarded.size()) +
                                        " overlay(s) of the state left removed");
            if (!start)
                finishJob(y, {std::nullopt, ref(y)});
            else if (withMemory)
                startDomain(y, paused, {}, RestoreFrom{snap.memoryFile, def, false, true});
            else
                startDomain(y, paused);
        };
        if (!x.active()) {
            revert(x);
            return;
        }
        if (!x.blockJobs.empty())
            fail(VIR_ERR_BLOCK_COPY_ACTIVE, _("the domain has a block job: end it first"));
        // The running guest ends first (its disks are the ones being replaced); its end
        // goes on with the revert, the job held throughout. SIGTERM, as destroy's first
        // step: the VMM closes its images, so the overlays left behind are whole (a
        // qcow2's cached metadata written back). One that does not end is for destroy.
        store_.note(x.def.name, "stopping the guest to revert to snapshot '" + snap.name + "'");
        x.endAs = std::make_pair(int(VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT), int(VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT));
        x.endThen = revert;
        x.vmm->kill(SIGTERM);
    }, std::move(done));
}

std::vector<std::string> DomainManager::snapshotNames(const rpc::DomainRef& dom, const std::optional<std::string>& of,
                                                      unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_SNAPSHOT_LIST_ROOTS | VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS |
                          VIR_DOMAIN_SNAPSHOT_LIST_LEAVES | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES |
                          VIR_DOMAIN_SNAPSHOT_LIST_METADATA | VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA |
                          VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
                          VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY | VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL |
                          VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
    const Domain& d = find(dom);
    // Bit 0 is ROOTS for a domain's list and DESCENDANTS for a snapshot's children.
    std::vector<std::string> candidates;
    if (of) {
        snapshotOf(d, *of);
        candidates = descendants(d, *of, flags & VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS);
    } else {
        for (const auto& s : d.snapshots)
            if (!(flags & VIR_DOMAIN_SNAPSHOT_LIST_ROOTS) || s.parent.empty())
                candidates.push_back(s.name);
    }
    std::vector<std::string> out;
    for (const auto& name : candidates) {
        const auto& s = snapshotOf(d, name);
        bool leaf = !hasChildren(d, name);
        unsigned leafFlags = VIR_DOMAIN_SNAPSHOT_LIST_LEAVES | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES;
        if ((flags & leafFlags) && !both(flags, VIR_DOMAIN_SNAPSHOT_LIST_LEAVES, VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES) &&
            leaf != bool(flags & VIR_DOMAIN_SNAPSHOT_LIST_LEAVES))
            continue;
        // Every snapshot mica lists has metadata, and every one is external.
        if ((flags & VIR_DOMAIN_SNAPSHOT_LIST_NO_METADATA) && !(flags & VIR_DOMAIN_SNAPSHOT_LIST_METADATA))
            continue;
        if ((flags & VIR_DOMAIN_SNAPSHOT_LIST_INTERNAL) && !(flags & VIR_DOMAIN_SNAPSHOT_LIST_EXTERNAL))
            continue;
        unsigned stateFlags = VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE | VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE |
                              VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY;
        if (flags & stateFlags) {
            unsigned mine = s.state == "disk-snapshot" ? VIR_DOMAIN_SNAPSHOT_LIST_DISK_ONLY
                            : s.state == "shutoff"     ? VIR_DOMAIN_SNAPSHOT_LIST_INACTIVE
                                                       : VIR_DOMAIN_SNAPSHOT_LIST_ACTIVE;
            if (!(flags & mine))
                continue;
        }
        out.push_back(name);
    }
    return out;   // oldest first: parents before children, as TOPOLOGICAL asks
}

std::string DomainManager::snapshotXml(const rpc::DomainRef& dom, const std::string& name, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_SNAPSHOT_XML_SECURE);   // mica's snapshot XML holds no secrets
    return conf::formatSnapshotXml(snapshotOf(find(dom), name));
}

void DomainManager::checkSnapshot(const rpc::DomainRef& dom, const std::string& name) const
{
    snapshotOf(find(dom), name);
}

std::optional<std::string> DomainManager::currentSnapshot(const rpc::DomainRef& dom) const
{
    const Domain& d = find(dom);
    for (auto it = d.snapshots.rbegin(); it != d.snapshots.rend(); ++it)
        if (it->current)
            return it->name;
    return std::nullopt;
}

std::string DomainManager::snapshotParent(const rpc::DomainRef& dom, const std::string& name) const
{
    const auto& s = snapshotOf(find(dom), name);
    if (s.parent.empty())
        fail(VIR_ERR_NO_DOMAIN_SNAPSHOT, conf::subst(_("snapshot '%1' does not have a parent"), {name}));
    return s.parent;
}

bool DomainManager::snapshotIsCurrent(const rpc::DomainRef& dom, const std::string& name) const
{
    snapshotOf(find(dom), name);
    return currentSnapshot(dom) == name;
}

void DomainManager::dropSnapshotMetadata(Domain& x, const std::string& name, unsigned flags)
{
    const conf::SnapshotDef self = snapshotOf(x, name);
    std::vector<std::string> gone;
    if (flags & (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        gone = descendants(x, name, true);
    if (!(flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        gone.push_back(name);
    std::set<std::string> goneSet(gone.begin(), gone.end());
    // Where the survivors hang and which one is current afterwards, as libvirt does:
    // a removed snapshot's children move up to its parent; a removed current
    // snapshot passes that to the nearest survivor above it.
    std::string heir = flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY ? name : self.parent;
    bool currentGone = false;
    try {
        for (auto& s : x.snapshots) {
            if (goneSet.count(s.name)) {
                currentGone = currentGone || s.current;
                continue;
            }
            if (goneSet.count(s.parent)) {
                s.parent = self.parent;
                snapshotStore_.save(x.def.name, s);
            }
        }
        if (currentGone && !heir.empty())
            for (auto& s : x.snapshots)
                if (s.name == heir) {
                    s.current = true;
                    snapshotStore_.save(x.def.name, s);
                }
        for (const auto& g : gone)
            snapshotStore_.remove(x.def.name, g);
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
    std::erase_if(x.snapshots, [&](const auto& s) { return goneSet.count(s.name) > 0; });
    store_.note(x.def.name, "snapshot metadata deleted: " + std::to_string(gone.size()) + " snapshot(s)");
}

void DomainManager::deleteSnapshot(const rpc::DomainRef& dom, const std::string& name, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY |
                          VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY);
    if (both(flags, VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN, VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        fail(VIR_ERR_INVALID_ARG, _("--children and --children-only exclude each other"));
    Domain& d = find(dom);
    snapshotOf(d, name);
    if (flags & VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) {
        runJob(d, "snapshot delete", [this, name, flags](Domain& x) {
            dropSnapshotMetadata(x, name, flags);
            finishJob(x, {std::nullopt, ref(x)});
        }, std::move(done));
        return;
    }
    if (flags & (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN | VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        fail(VIR_ERR_OPERATION_UNSUPPORTED,
             _("deleting the images of several snapshots at once (--children, --children-only) is not supported by "
               "mica: delete them one at a time, children first"));
    // The snapshot's images go: its overlay of each disk is merged into the image it
    // kept (a commit, as libvirt does), which becomes the disk's image again; then its
    // memory file and its metadata. Only for a snapshot with no children whose overlays
    // are the disks' images now (the last one taken, or reverted to).
    runJob(d, "snapshot delete", [this, name](Domain& x) {
        const conf::SnapshotDef snap = snapshotOf(x, name);
        if (hasChildren(x, name))
            fail(VIR_ERR_OPERATION_UNSUPPORTED,
                 conf::subst(_("snapshot '%1' has children: delete them first, or delete its metadata only "
                               "(--metadata)"), {name}));
        if (x.starting)
            fail(VIR_ERR_OPERATION_INVALID, _("the domain is starting"));
        bool live = x.active();
        if (live && !x.blockJobs.empty())
            fail(VIR_ERR_BLOCK_COPY_ACTIVE, _("the domain has a block job: end it first"));
        conf::DomainDef then;
        try {
            then = conf::parseDomainXml(snap.domainXml);
        } catch (const conf::ConfError& e) {
            failConf(e);
        }
        struct Merge {
            conf::DiskDef disk;                // as the domain has it now
            conf::BackingStoreDef base;        // the image the snapshot kept
        };
        std::vector<Merge> merges;
        const conf::DomainDef& now = live ? x.live : x.persistentDef();
        for (const auto& sd : snap.disks) {
            if (sd.snapshot != conf::SnapshotDiskDef::Mode::External)
                continue;
            const conf::DiskDef* disk = diskByName(now, sd.name);
            const conf::DiskDef* kept = diskByName(then, sd.name);
            if (!disk || !kept)
                fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("snapshot '%1': the domain has no disk '%2' now"),
                                                            {name, sd.name}));
            auto chain = chainOf(*disk, live);
            if (chain.empty() || chain.front().path != kept->source || keptBySnapshot(x, disk->target, disk->source))
                fail(VIR_ERR_OPERATION_UNSUPPORTED,
                     conf::subst(_("disk '%1': the image snapshot '%2' kept (%3) is not right below the disk's image "
                                   "%4, so mica cannot merge them: revert to the snapshot first, or delete its "
                                   "metadata only (--metadata)"), {disk->target, name, kept->source, disk->source}));
            merges.push_back({*disk, chain.front()});
        }
        store_.note(x.def.name, "snapshot '" + name + "': merging " + std::to_string(merges.size()) +
                                    " overlay(s) into the images it kept");
        pool_.run([this, merges, live, name, socket = x.apiSocket, uuid = x.def.uuid, serial = x.serial,
                   incarnation = x.incarnation]() -> std::function<void()> {
            std::optional<rpc::RemoteError> err;
            std::vector<std::optional<std::pair<std::string, std::string>>> images;   // what the VMM runs after
            for (const auto& m : merges) {
                try {
                    if (!live) {
                        commitOffline(m.disk, m.base.path);
                        images.emplace_back();
                        continue;
                    }
                    commitLive(socket, m.disk.target, m.base.path);
                    images.push_back(vmmDiskImage(process::vmmRequest(socket, "GET", "vm.info").body, m.disk.target));
                } catch (...) {
                    err = remoteError(std::current_exception());
                    break;
                }
            }
            return [this, merges, live, name, uuid, serial, incarnation, err, images] {
                Domain* d = findLive(uuid, serial);
                if (!d || !d->jobDone)
                    return;
                if (live != d->active() || (live && d->incarnation != incarnation)) {
                    finishJob(*d, {error(VIR_ERR_OPERATION_FAILED, _("the domain stopped during the snapshot's deletion"))
                                       .error(), {}});
                    return;
                }
                try {
                    // The disks merged so far are on their bases, whatever came after.
                    for (size_t i = 0; i < images.size(); ++i) {
                        const auto& m = merges[i];
                        if (live)
                            onPivoted(*d, m.disk.target, images[i]);
                        else
                            editDefinition(*d, [&](conf::DomainDef& pd) {
                                if (conf::DiskDef* disk = diskByName(pd, m.disk.target))
                                    setImage(*disk, m.base.path, m.base.format);
                            });
                        ::unlink(m.disk.source.c_str());
                    }
                    if (err) {
                        finishJob(*d, {err, {}});
                        return;
                    }
                    const conf::SnapshotDef& snap = snapshotOf(*d, name);
                    if (!snap.memoryFile.empty())
                        ::unlink(snap.memoryFile.c_str());
                    dropSnapshotMetadata(*d, name, 0);
                    finishJob(*d, {std::nullopt, ref(*d)});
                } catch (...) {
                    finishJob(*d, {remoteError(std::current_exception()), {}});
                }
            };
        });
    }, std::move(done));
}

}  // namespace mica::domain
