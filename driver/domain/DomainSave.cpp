// DomainManager: save images (SaveImage.h) — `virsh save`, `restore`,
// `save-image-dumpxml`, `managedsave` and its removal — as libvirt's QEMU driver does
// them. A save is a modify job: pause, vm.snapshot into a directory beside the target,
// pack it with the domain XML into one file (temporary name, then rename), stop the VMM;
// any failure before the rename leaves no file and the guest as it was. A restore is a
// start whose VMM is rebuilt from the image (startDomain's RestoreFrom).
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "DomainManager.h"
#include "DomainXmlFormatter.h"
#include "ManagerSupport.h"
#include "SaveImage.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// vm.snapshot writes the guest's RAM: seconds per GiB on a loaded host, more in an
// emulated one.
constexpr int kSnapshotCallMs = 10 * 60 * 1000;

constexpr unsigned kSaveFlags = VIR_DOMAIN_SAVE_BYPASS_CACHE | VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED;

void checkSaveFlags(unsigned flags)
{
    checkFlags(flags, kSaveFlags);
    // O_DIRECT would need aligned buffers through the VMM's memory writer too; refusing
    // is honest where silently caching is not.
    if (flags & VIR_DOMAIN_SAVE_BYPASS_CACHE)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("bypassing the file system cache is not supported for save images"));
    if ((flags & VIR_DOMAIN_SAVE_RUNNING) && (flags & VIR_DOMAIN_SAVE_PAUSED))
        fail(VIR_ERR_INVALID_ARG, _("running and paused are mutually exclusive"));
}

void checkPath(const std::string& path)
{
    // libvirt's client makes the path absolute before sending it; the daemon's working
    // directory is no one's.
    if (path.empty() || path[0] != '/')
        fail(VIR_ERR_INVALID_ARG, conf::subst(_("save image path '%1' is not absolute"), {path}));
}

std::string parentOf(const std::string& path)
{
    auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

conf::DomainDef DomainManager::saveImageDef(const std::string& path, bool* wasRunning) const
{
    SaveImageInfo info;
    try {
        info = readSaveImage(path);
    } catch (const SaveImageError& e) {
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("cannot use save image: %1"), {e.what()}));
    }
    if (wasRunning)
        *wasRunning = info.header.wasRunning();
    return parseNew(info.xml, 0);
}

conf::DomainDef DomainManager::alternativeDef(const std::string& dxml, const conf::DomainDef& def) const
{
    conf::DomainDef other = parseNew(dxml, 0);
    if (other.uuid != def.uuid || other.name != def.name)
        fail(VIR_ERR_CONFIG_UNSUPPORTED,
             conf::subst(_("the XML is of domain '%1' (%2), the save image of '%3' (%4)"),
                         {other.name, other.uuid, def.name, def.uuid}));
    return other;
}

std::string DomainManager::saveImageXml(const std::string& path, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
    checkPath(path);
    // Parsed and formatted again rather than echoed: what a client sees is what a
    // restore would run, and a damaged XML is refused here as it would be there.
    return conf::formatDomainXml(saveImageDef(path, nullptr), VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
}

// --- save ---------------------------------------------------------------------------

void DomainManager::save(const rpc::DomainRef& dom, const std::string& path, const std::optional<std::string>& dxml,
                         unsigned flags, JobDone done)
{
    checkSaveFlags(flags);
    checkPath(path);
    runJob(running(dom), "save", [this, path, flags, dxml](Domain& d) { saveJob(d, path, flags, dxml); },
           std::move(done));
}

void DomainManager::managedSave(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    checkSaveFlags(flags);
    Domain& d = running(dom);
    if (!d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("cannot do managed save for transient domain"));
    runJob(d, "managedsave", [this, flags](Domain& x) {
        if (!x.persistent)
            fail(VIR_ERR_OPERATION_INVALID, _("cannot do managed save for transient domain"));
        saveJob(x, store_.managedSavePath(x.def.name), flags);
    }, std::move(done));
}

void DomainManager::saveJob(Domain& d, const std::string& path, unsigned flags, const std::optional<std::string>& dxml)
{
    if (!d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    bool wasRunning = d.state == VIR_DOMAIN_RUNNING;
    // What restore does with the image unless told otherwise: --running/--paused here
    // override the state the domain is in, as libvirt's QEMU driver records it.
    bool imageRunning = (flags & VIR_DOMAIN_SAVE_RUNNING) ? true : (flags & VIR_DOMAIN_SAVE_PAUSED) ? false : wasRunning;
    std::string xml = conf::formatDomainXml(dxml ? alternativeDef(*dxml, d.live) : d.live,
                                            VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
    store_.note(d.def.name, "saving to " + path);
    // Watched with domjobinfo, stopped with domjobabort (DomainAsyncJob.cpp): the RAM goes
    // out twice, into the VMM's snapshot and then into the image.
    auto job = std::make_shared<AsyncJob>();
    job->operation = VIR_DOMAIN_JOB_OPERATION_SAVE;
    job->startedMs = rpc::EventLoop::nowMs();
    job->total = 2 * d.live.memoryKiB * 1024;
    d.asyncJob = job;

    struct Outcome {
        std::optional<rpc::RemoteError> error;
        bool pausedByUs = false;   // and left paused: resuming failed too
    };
    pool_.run([this, socket = d.apiSocket, path, xml, wasRunning, imageRunning, uuid = d.def.uuid, serial = d.serial,
               incarnation = d.incarnation, vmmUid = d.vmmUid, vmmGid = d.vmmGid, job]() -> std::function<void()> {
        Outcome out;
        bool paused = false;
        try {
            if (wasRunning)
                paused = pauseVmm(socket);
            writeGuestImage(socket, path, xml, imageRunning, vmmUid, vmmGid, *job);
        } catch (const SaveImageAborted&) {
            out.error = error(VIR_ERR_OPERATION_ABORTED,
                              conf::subst(_("saving to %1 was cancelled by a client"), {path})).error();
        } catch (const std::exception& e) {
            out.error = error(VIR_ERR_OPERATION_FAILED,
                              conf::subst(_("cannot save domain to %1: %2"), {path, e.what()})).error();
        }
        if (out.error && paused)   // the guest goes on as it was before the save was asked for
            out.pausedByUs = !resumeVmm(socket);
        return [this, out, uuid, serial, incarnation, path, job] {
            Domain* d = findLive(uuid, serial);
            if (!d || !d->jobDone)
                return;   // gone: erase() answered
            d->lastJob = jobStatsOf(*job, !out.error ? VIR_DOMAIN_JOB_COMPLETED
                                       : job->abort ? VIR_DOMAIN_JOB_CANCELLED
                                                    : VIR_DOMAIN_JOB_FAILED);
            d->asyncJob.reset();
            if (d->incarnation != incarnation || !d->active()) {
                // The VMM ended under the save (destroyed, crashed): what it wrote, if
                // anything, is not a save the caller can trust.
                if (!out.error)
                    ::unlink(path.c_str());
                finishJob(*d, {out.error ? out.error : error(VIR_ERR_OPERATION_INVALID, _("domain is not running")).error(), {}});
                return;
            }
            if (out.error) {
                store_.note(d->def.name, "save failed: " + out.error->message.value_or(""));
                if (out.pausedByUs && d->state == VIR_DOMAIN_RUNNING) {
                    d->state = VIR_DOMAIN_PAUSED;
                    d->reason = VIR_DOMAIN_PAUSED_SAVE;
                    saveStatus(*d);
                    emit(*d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
                }
                finishJob(*d, {out.error, {}});
                return;
            }
            // The image is whole on disk: the VMM has nothing left to keep. Its end
            // (pidfd) makes the domain shut off (saved) and answers this job.
            store_.note(d->def.name, "saved to " + path);
            d->endAs = std::make_pair(int(VIR_DOMAIN_SHUTOFF_SAVED), int(VIR_DOMAIN_EVENT_STOPPED_SAVED));
            d->vmm->kill(SIGKILL);
        };
    });
}

bool DomainManager::pauseVmm(const std::string& socket)
{
    auto r = process::vmmRequest(socket, "PUT", "vm.pause", std::nullopt, process::kVmmCallMs);
    if (!r.ok())
        throw std::runtime_error("vm.pause: " + r.errorText());
    return true;
}

bool DomainManager::resumeVmm(const std::string& socket)
{
    try {
        return process::vmmRequest(socket, "PUT", "vm.resume").ok();
    } catch (const std::exception&) {
        return false;
    }
}

void DomainManager::writeGuestImage(const std::string& socket, const std::string& path, const std::string& xml,
                                    bool imageRunning, std::optional<uid_t> vmmUid, gid_t vmmGid, AsyncJob& job)
{
    auto checkAbort = [&] {
        if (job.abort)
            throw SaveImageAborted();
    };
    // The snapshot goes beside the image: same file system (no copy across devices), and
    // a directory the daemon cannot write fails before the VMM writes anything.
    std::string base = path.substr(path.rfind('/') + 1);
    std::string tmpl = parentOf(path) + "/." + base + ".snapshot-XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    if (!::mkdtemp(name.data()))
        throw std::runtime_error(parentOf(path) + ": " + std::strerror(errno));
    std::string snapshotDir = name.data();
    struct RemoveDir {
        std::string dir;
        ~RemoveDir()
        {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } removeDir{snapshotDir};
    {
        std::lock_guard lock(job.fileMutex);
        job.vmmFile = snapshotDir + "/memory";
    }
    // A confined VMM writes it as its own uid, through an fd of the directory: the path
    // is outside its mount namespace.
    if (vmmUid && ::chown(snapshotDir.c_str(), *vmmUid, vmmGid) < 0)
        throw std::runtime_error(snapshotDir + ": chown: " + std::strerror(errno));
    UniqueFd directory(::open(snapshotDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory)
        throw std::runtime_error(snapshotDir + ": " + std::strerror(errno));
    checkAbort();
    job.vmmWriting = true;
    try {
        auto r = process::vmmRequest(socket, "PUT", "vm.snapshot",
                                     nlohmann::json{{"destination_url", "file://" + snapshotDir}, {"destination_fd", 0}},
                                     kSnapshotCallMs, {directory.get()});
        if (!r.ok())
            throw std::runtime_error("vm.snapshot: " + r.errorText());
    } catch (...) {
        job.vmmWriting = false;
        checkAbort();   // the VMM stopped because it was told to
        throw;
    }
    job.vmmWriting = false;
    job.processed = job.total / 2;
    checkAbort();
    writeSaveImage(snapshotDir, xml, imageRunning, path, [&job](std::uint64_t copied) {
        job.processed = job.total / 2 + copied;
        return !job.abort;
    });
}

// --- restore ------------------------------------------------------------------------

void DomainManager::restore(const std::string& path, const std::optional<std::string>& dxml, unsigned flags,
                            JobDone done)
{
    checkSaveFlags(flags);
    checkPath(path);
    bool wasRunning = true;
    conf::DomainDef def = saveImageDef(path, &wasRunning);
    if (dxml)
        def = alternativeDef(*dxml, def);
    bool paused = (flags & VIR_DOMAIN_SAVE_PAUSED) ? true : (flags & VIR_DOMAIN_SAVE_RUNNING) ? false : !wasRunning;
    Domain* existing = domains_.count(def.uuid) ? domains_[def.uuid].get() : findByName(def.name);
    if (!existing) {
        // As libvirt: restoring a domain nobody defined makes it a transient one.
        auto owned = std::make_unique<Domain>();
        owned->persistent = false;
        owned->def = def;
        Domain& d = insert(std::move(owned));
        runJob(d, "restore", [this, def, paused, path](Domain& x) {
            startDomain(x, paused, {}, RestoreFrom{path, def, false});
        }, std::move(done));
        return;
    }
    checkCanStartAs(*existing, def);
    runJob(*existing, "restore", [this, def, paused, path](Domain& x) {
        checkCanStartAs(x, def);
        startDomain(x, paused, {}, RestoreFrom{path, def, false});
    }, std::move(done));
}

// --- managed save images ------------------------------------------------------------

bool DomainManager::hasManagedSave(const rpc::DomainRef& dom, unsigned flags) const
{
    checkFlags(flags, 0);
    Domain& d = find(dom);
    return d.persistent && store_.hasManagedSave(d.def.name);
}

void DomainManager::managedSaveRemove(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    checkFlags(flags, 0);
    // A job: it must not pull the image from under a start restoring from it.
    runJob(find(dom), "managedsave-remove", [this](Domain& d) {
        std::string image = store_.managedSavePath(d.def.name);
        if (!store_.hasManagedSave(d.def.name))
            fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("domain '%1' has no managed save image"), {d.def.name}));
        if (::unlink(image.c_str()) < 0)
            fail(VIR_ERR_OPERATION_FAILED, image + ": " + std::strerror(errno));
        store_.note(d.def.name, "managed save image removed");
        if (!d.active() && d.reason == VIR_DOMAIN_SHUTOFF_SAVED)
            d.reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
        finishJob(d, {std::nullopt, ref(d)});
    }, std::move(done));
}

// --- another XML for a save image ---------------------------------------------------

void DomainManager::redefineImage(const std::string& path, const std::string& dxml, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED);
    if (both(flags, VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED))
        fail(VIR_ERR_INVALID_ARG, _("running and paused are mutually exclusive"));
    bool wasRunning = true;
    conf::DomainDef def = alternativeDef(dxml, saveImageDef(path, &wasRunning));
    bool running = (flags & VIR_DOMAIN_SAVE_RUNNING) ? true : (flags & VIR_DOMAIN_SAVE_PAUSED) ? false : wasRunning;
    std::string xml = conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
    // The image is written again whole (its RAM too): a worker's. A restore reading the
    // old one meanwhile keeps reading it (the new one is renamed over it).
    pool_.run([path, xml, running, done]() -> std::function<void()> {
        std::optional<rpc::RemoteError> err;
        try {
            redefineSaveImage(path, xml, running);
        } catch (const std::exception& e) {
            err = error(VIR_ERR_OPERATION_FAILED, conf::subst(_("cannot rewrite save image %1: %2"), {path, e.what()}))
                      .error();
        }
        return [done, err] { done({err, {}}); };
    });
}

void DomainManager::saveImageDefine(const std::string& path, const std::string& dxml, unsigned flags, JobDone done)
{
    checkPath(path);
    redefineImage(path, dxml, flags, std::move(done));
}

std::string DomainManager::managedSaveXml(const rpc::DomainRef& dom, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
    Domain& d = find(dom);
    if (!d.persistent || !store_.hasManagedSave(d.def.name))
        fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("domain '%1' has no managed save image"), {d.def.name}));
    return saveImageXml(store_.managedSavePath(d.def.name), flags);
}

void DomainManager::managedSaveDefine(const rpc::DomainRef& dom, const std::string& dxml, unsigned flags, JobDone done)
{
    // A job: a start must not restore from the image while it is rewritten.
    runJob(find(dom), "managedsave-define", [this, dxml, flags](Domain& d) {
        if (!d.persistent || !store_.hasManagedSave(d.def.name))
            fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("domain '%1' has no managed save image"), {d.def.name}));
        redefineImage(store_.managedSavePath(d.def.name), dxml, flags, [this, uuid = d.def.uuid, serial = d.serial](JobOutcome o) {
            if (Domain* x = findLive(uuid, serial); x && x->jobDone)
                finishJob(*x, {o.error, o.error ? rpc::DomainRef{} : ref(*x)});
        });
    }, std::move(done));
}

}  // namespace mica::domain
