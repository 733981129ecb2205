#include "DomainManager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>

#include "Cgroup.h"
#include "ConfError.h"
#include "CrashPoint.h"
#include "DomainCapsCheck.h"
#include "DomainXmlFormatter.h"
#include "DomainXmlParser.h"
#include "ManagerSupport.h"
#include "RpcError.h"
#include "SecLabel.h"
#include "Protocol.h"
#include "Tap.h"
#include "VmmLock.h"
#include "Xml.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

using rpc::RpcError;

namespace {

// A VMM found again at daemon start gets this long to say who it is.
constexpr int kReconnectCallMs = 5000;

}  // namespace

DomainManager::DomainManager(rpc::EventLoop& loop, DomainStore& store, std::string vmmPath, DomainHooks hooks,
                             ManagerOptions options)
    : loop_(loop), store_(store), snapshotStore_(store.paths().snapshotDir), vmmPath_(std::move(vmmPath)), hooks_(std::move(hooks)), options_(options),
      pool_(loop, options.maxWorkers)
{
}

DomainManager::~DomainManager()
{
    // Running VMMs stay: a restarted daemon finds them again. Answers still owed go out
    // as errors (their DeferredReplies say so when they are destroyed).
    for (auto& [uuid, d] : domains_) {
        closeConsole(*d);
        if (d->vmm)
            loop_.unwatch(d->vmm->pidfd());
        if (d->events)
            loop_.unwatch(d->events->fd());
    }
}

// --- lookups ---------------------------------------------------------------------

rpc::DomainRef DomainManager::ref(const Domain& d) const
{
    return {d.def.name, uuidBytes(d.def.uuid), d.active() ? d.id : -1};
}

Domain& DomainManager::find(const rpc::DomainRef& dom) const
{
    auto it = domains_.find(uuidText(dom.uuid));
    if (it == domains_.end())
        fail(VIR_ERR_NO_DOMAIN, conf::subst(_("no domain with matching uuid '%1' (%2)"), {uuidText(dom.uuid), dom.name}));
    return *it->second;
}

Domain* DomainManager::findLive(const std::string& uuid, std::uint64_t serial) const
{
    auto it = domains_.find(uuid);
    return it != domains_.end() && it->second->serial == serial ? it->second.get() : nullptr;
}

Domain& DomainManager::insert(std::unique_ptr<Domain> d)
{
    d->serial = nextSerial_++;
    d->snapshots = snapshotStore_.load(d->def.name);
    Domain& ref = *d;
    domains_[d->def.uuid] = std::move(d);
    return ref;
}

Domain* DomainManager::findByName(const std::string& name) const
{
    for (auto& [uuid, d] : domains_)
        if (d->def.name == name)
            return d.get();
    return nullptr;
}

Domain& DomainManager::running(const rpc::DomainRef& dom) const
{
    Domain& d = find(dom);
    if (!d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    return d;
}

rpc::DomainRef DomainManager::lookupByName(const std::string& name) const
{
    if (Domain* d = findByName(name))
        return ref(*d);
    fail(VIR_ERR_NO_DOMAIN, conf::subst(_("no domain with matching name '%1'"), {name}));
}

rpc::DomainRef DomainManager::lookupByUuid(const rpc::Uuid& uuid) const
{
    auto it = domains_.find(uuidText(uuid));
    if (it == domains_.end())
        fail(VIR_ERR_NO_DOMAIN, conf::subst(_("no domain with matching uuid '%1'"), {uuidText(uuid)}));
    return ref(*it->second);
}

rpc::DomainRef DomainManager::lookupById(int id) const
{
    for (auto& [uuid, d] : domains_)
        if (d->active() && d->id == id)
            return ref(*d);
    fail(VIR_ERR_NO_DOMAIN, conf::subst(_("no domain with matching id %1"), {std::to_string(id)}));
}

std::vector<rpc::DomainRef> DomainManager::listAll(std::uint32_t flags) const
{
    std::vector<rpc::DomainRef> out;
    for (auto& [uuid, d] : domains_) {
        bool active = d->active();
        auto want = [&](unsigned yes, unsigned no, bool is) {
            unsigned both = yes | no;
            return (flags & both) == 0 || (flags & both) == both || (is ? (flags & yes) : (flags & no));
        };
        // The autostart link is a file lookup per domain: made only when the flags
        // filter on it (virsh list --all and listAllDomains() do not), not 1,000 per
        // call over 1,000 domains.
        // A named copy: clang (C++20 before P1091 support) cannot capture a structured binding.
        const auto& dom = d;
        auto autostart = [&] { return dom->persistent && store_.autostart(dom->def.name); };
        auto managedSave = [&] { return dom->persistent && store_.hasManagedSave(dom->def.name); };
        bool filterAutostart = flags & (VIR_CONNECT_LIST_DOMAINS_AUTOSTART | VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART);
        if (!want(VIR_CONNECT_LIST_DOMAINS_ACTIVE, VIR_CONNECT_LIST_DOMAINS_INACTIVE, active) ||
            !want(VIR_CONNECT_LIST_DOMAINS_PERSISTENT, VIR_CONNECT_LIST_DOMAINS_TRANSIENT, d->persistent) ||
            (filterAutostart && !want(VIR_CONNECT_LIST_DOMAINS_AUTOSTART, VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART, autostart())) ||
            !want(VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE, !managedSave()) ||
            !want(VIR_CONNECT_LIST_DOMAINS_NO_SNAPSHOT, VIR_CONNECT_LIST_DOMAINS_HAS_SNAPSHOT, true) ||
            !want(VIR_CONNECT_LIST_DOMAINS_NO_CHECKPOINT, VIR_CONNECT_LIST_DOMAINS_HAS_CHECKPOINT, true))
            continue;
        unsigned stateFlags = flags & (VIR_CONNECT_LIST_DOMAINS_RUNNING | VIR_CONNECT_LIST_DOMAINS_PAUSED |
                                       VIR_CONNECT_LIST_DOMAINS_SHUTOFF | VIR_CONNECT_LIST_DOMAINS_OTHER);
        if (stateFlags) {
            unsigned mine = d->state == VIR_DOMAIN_RUNNING   ? VIR_CONNECT_LIST_DOMAINS_RUNNING
                            : d->state == VIR_DOMAIN_PAUSED  ? VIR_CONNECT_LIST_DOMAINS_PAUSED
                            : d->state == VIR_DOMAIN_SHUTOFF ? VIR_CONNECT_LIST_DOMAINS_SHUTOFF
                                                             : VIR_CONNECT_LIST_DOMAINS_OTHER;
            if (!(stateFlags & mine))
                continue;
        }
        out.push_back(ref(*d));
    }
    // Running ones by id, then the others by name, as virsh lists them.
    std::sort(out.begin(), out.end(), [](const rpc::DomainRef& a, const rpc::DomainRef& b) {
        if ((a.id > 0) != (b.id > 0))
            return a.id > 0;
        return a.id > 0 ? a.id < b.id : a.name < b.name;
    });
    return out;
}

std::vector<std::int32_t> DomainManager::activeIds() const
{
    std::vector<std::int32_t> ids;
    for (auto& [uuid, d] : domains_)
        if (d->active())
            ids.push_back(d->id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<std::string> DomainManager::inactiveNames() const
{
    std::vector<std::string> names;
    for (auto& [uuid, d] : domains_)
        if (!d->active())
            names.push_back(d->def.name);
    std::sort(names.begin(), names.end());
    return names;
}

std::size_t DomainManager::activeCount() const { return activeIds().size(); }

// --- definitions -----------------------------------------------------------------

conf::DomainDef DomainManager::parseNew(const std::string& xml, unsigned parseFlags) const
{
    try {
        conf::DomainDef def = conf::parseDomainXml(xml, parseFlags);
        if (hooks_.domainCaps)
            conf::checkAgainstDomainCaps(def, hooks_.domainCaps());
        checkFormattedSize(def);
        return def;
    } catch (const conf::ConfError& e) {
        failConf(e);
    }
}

void DomainManager::checkFormattedSize(const conf::DomainDef& def)
{
    // What is accepted must come back: `dumpxml` answers in one RPC string (4 MiB), and
    // the stored definition and status file are read back under the parser's limit. The
    // formatted document can be much larger than what the client sent ('>' in text comes
    // back as "&gt;", '"' in an attribute as "&quot;"), so the formatted size is what
    // counts, with room for what the live XML adds (ids, addresses, pty paths, labels).
    constexpr std::size_t kLiveXmlRoom = 64 * 1024;
    constexpr std::size_t kLimit = rpc::kRemoteStringMax - kLiveXmlRoom;
    static_assert(kLimit + 2 * kLiveXmlRoom < conf::kMaxDocumentSize, "a status file must stay readable");
    std::size_t size = conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE).size();
    if (size > kLimit)
        fail(VIR_ERR_XML_ERROR,
             conf::subst(_("the domain XML is %1 bytes once formatted (characters such as '<', '>', '&' and quotes "
                           "are written as entities), over the %2 bytes a libvirt reply can carry"),
                         {std::to_string(size), std::to_string(kLimit)}));
}

rpc::DomainRef DomainManager::define(const std::string& xml, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_DEFINE_VALIDATE);
    conf::DomainDef def = parseNew(xml, flags);
    Domain* same = domains_.count(def.uuid) ? domains_[def.uuid].get() : nullptr;
    Domain* byName = findByName(def.name);
    if (byName && byName != same)
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("domain '%1' already exists with uuid %2"),
                                                   {def.name, byName->def.uuid}));
    if (same && same->def.name != def.name)
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("domain '%1' is already defined with uuid %2"),
                                                   {same->def.name, def.uuid}));
    try {
        store_.saveConfig(def);
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
    process::crashPoint("define-saved");
    bool isNew = !same;
    if (!same) {
        auto d = std::make_unique<Domain>();
        d->def = def;
        same = &insert(std::move(d));
    }
    // A domain being started keeps the definition it starts with as the live one.
    if (same->active() || same->starting)
        same->newDef = def;
    else
        same->def = def;
    same->persistent = true;
    emit(*same, VIR_DOMAIN_EVENT_DEFINED, isNew ? VIR_DOMAIN_EVENT_DEFINED_ADDED : VIR_DOMAIN_EVENT_DEFINED_UPDATED);
    return ref(*same);
}

void DomainManager::undefine(const rpc::DomainRef& dom, unsigned flags, JobDone done)
{
    // Mica keeps no checkpoints, NVRAM or TPM state yet: asking to remove them is asking
    // to remove nothing. A managed save image and snapshot metadata are removed only when
    // asked, as libvirt does (the snapshots' overlays stay: they are the disks' images).
    checkFlags(flags, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                          VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
                          VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_TPM |
                          VIR_DOMAIN_UNDEFINE_KEEP_TPM);
    bool removeImage = flags & VIR_DOMAIN_UNDEFINE_MANAGED_SAVE;
    bool removeSnapshots = flags & VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    runJob(find(dom), "undefine", [this, removeImage, removeSnapshots](Domain& d) {
        if (!d.persistent)
            fail(VIR_ERR_OPERATION_INVALID, _("cannot undefine transient domain"));
        if (!d.snapshots.empty() && !removeSnapshots)
            fail(VIR_ERR_OPERATION_INVALID,
                 conf::subst(_("cannot undefine domain with %1 snapshots (their metadata goes with "
                               "VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA, virsh undefine --snapshots-metadata)"),
                             {std::to_string(d.snapshots.size())}));
        if (store_.hasManagedSave(d.def.name)) {
            std::string image = store_.managedSavePath(d.def.name);
            if (!removeImage)
                fail(VIR_ERR_OPERATION_INVALID, _("Refusing to undefine while domain managed save image exists"));
            if (::unlink(image.c_str()) < 0 && errno != ENOENT)
                fail(VIR_ERR_OPERATION_FAILED, image + ": " + std::strerror(errno));
        }
        process::crashPoint("undefine-begin");
        try {
            // Metadata first: a crash in between leaves a definition without snapshots,
            // never snapshots a later domain of the name would inherit.
            if (removeSnapshots && !d.snapshots.empty()) {
                snapshotStore_.removeAll(d.def.name);
                d.snapshots.clear();
            }
            store_.removeConfig(d.def.name);
        } catch (const std::exception& e) {
            fail(VIR_ERR_OPERATION_FAILED, e.what());
        }
        process::crashPoint("undefine-removed");
        emit(d, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
        rpc::DomainRef r = ref(d);
        if (d.active()) {
            d.persistent = false;   // goes away when it stops
            d.newDef.reset();
            saveStatus(d);
            finishJob(d, {std::nullopt, r});
        } else {
            finishJob(d, {std::nullopt, r});
            erase(d);
        }
    }, std::move(done));
}

bool DomainManager::autostart(const rpc::DomainRef& dom) const
{
    Domain& d = find(dom);
    return d.persistent && store_.autostart(d.def.name);
}

void DomainManager::setAutostart(const rpc::DomainRef& dom, bool on)
{
    Domain& d = find(dom);
    if (!d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("cannot set autostart for transient domain"));
    try {
        store_.setAutostart(d.def.name, on);
    } catch (const std::exception& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
}

// --- jobs -------------------------------------------------------------------------

void DomainManager::runJob(Domain& d, const char* name, std::function<void(Domain&)> body, JobDone done)
{
    std::string uuid = d.def.uuid;
    std::uint64_t serial = d.serial;
    DomainJob::Waiter w;
    w.name = name;
    w.sinceMs = rpc::EventLoop::nowMs();
    w.run = [this, uuid, serial, body = std::move(body), done]() {
        Domain* d = findLive(uuid, serial);
        if (!d) {
            done({error(VIR_ERR_NO_DOMAIN, conf::subst(_("no domain with matching uuid '%1'"), {uuid})).error(), {}});
            return;
        }
        d->jobDone = done;
        try {
            body(*d);
        } catch (...) {
            Domain* again = findLive(uuid, serial);
            if (again && again->jobDone)
                finishJob(*again, {remoteError(std::current_exception()), {}});
        }
    };
    w.refuse = [done](const rpc::RemoteError& e) { done({e, {}}); };
    if (auto now = d.job.acquire(std::move(w)))
        now->run();
}

void DomainManager::finishJob(Domain& d, JobOutcome outcome)
{
    JobDone done = std::exchange(d.jobDone, nullptr);
    // The next job starts from the loop's top level, not from inside this one.
    if (auto next = d.job.release())
        loop_.post(std::move(next->run));
    if (done)
        done(std::move(outcome));
}

void DomainManager::erase(Domain& d)
{
    auto gone = error(VIR_ERR_NO_DOMAIN, conf::subst(_("domain '%1' went away during the operation"), {d.def.name}));
    JobDone owner = std::exchange(d.jobDone, nullptr);
    auto waiters = d.job.drain();
    std::vector<JobDone> destroyers = std::move(d.destroyWaiters);
    closeConsole(d);
    domains_.erase(d.def.uuid);
    if (owner)
        owner({gone.error(), {}});
    for (auto& w : waiters)
        w.refuse(gone.error());
    for (auto& w : destroyers)
        w({gone.error(), {}});
}

void DomainManager::tick()
{
    std::int64_t now = rpc::EventLoop::nowMs();
    std::vector<std::pair<DomainJob::Waiter, rpc::RemoteError>> refused;
    for (auto& [uuid, d] : domains_) {
        for (auto& w : d->job.expired(now, options_.jobWaitMs))
            refused.emplace_back(std::move(w),
                                 error(VIR_ERR_OPERATION_TIMEOUT,
                                       conf::subst(_("cannot acquire state change lock (held by %1)"),
                                                   {d->job.owner()})).error());
    }
    for (auto& [w, e] : refused)
        w.refuse(e);
    tickDestroys(now);
    tickRemovals(now);
}

// --- queries ----------------------------------------------------------------------

DomainInfo DomainManager::info(const rpc::DomainRef& dom) const
{
    Domain& d = find(dom);
    const conf::DomainDef& def = d.active() ? d.live : d.def;
    DomainInfo i;
    i.state = d.state;
    i.maxMemKiB = def.memoryKiB;
    i.memoryKiB = d.active() ? def.currentMemoryKiB : def.memoryKiB;
    i.vcpus = def.vcpusCurrent;
    i.cpuTimeNs = d.vmm ? d.vmm->cpuTimeNs() : 0;
    return i;
}

std::pair<int, int> DomainManager::state(const rpc::DomainRef& dom) const
{
    Domain& d = find(dom);
    return {d.state, d.reason};
}

std::string DomainManager::xml(const rpc::DomainRef& dom, unsigned flags) const
{
    // UPDATE_CPU changes only host-model and custom CPUs, which mica refuses: with
    // host-passthrough and maximum there is nothing to update. A migratable document
    // is for a migration mica cannot do yet.
    if (flags & VIR_DOMAIN_XML_MIGRATABLE)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("migratable XML is not supported: mica does not migrate domains yet"));
    checkFlags(flags, VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_UPDATE_CPU);
    Domain& d = find(dom);
    if (d.active() && !(flags & VIR_DOMAIN_XML_INACTIVE))
        return conf::formatDomainXml(d.live, flags);
    return conf::formatDomainXml(d.persistentDef(), flags | VIR_DOMAIN_XML_INACTIVE);
}

bool DomainManager::isActive(const rpc::DomainRef& dom) const { return find(dom).active(); }
bool DomainManager::isPersistent(const rpc::DomainRef& dom) const { return find(dom).persistent; }
bool DomainManager::isUpdated(const rpc::DomainRef& dom) const { return find(dom).newDef.has_value(); }

int DomainManager::vcpus(const rpc::DomainRef& dom, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG | VIR_DOMAIN_VCPU_MAXIMUM |
                          VIR_DOMAIN_VCPU_GUEST);
    if (flags & VIR_DOMAIN_VCPU_GUEST)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("mica has no guest agent to ask for vCPUs"));
    Domain& d = find(dom);
    const conf::DomainDef& def = affectsLive(d, flags) ? d.live : d.persistentDef();
    return static_cast<int>((flags & VIR_DOMAIN_VCPU_MAXIMUM) ? def.vcpusMax : def.vcpusCurrent);
}

std::uint64_t DomainManager::maxMemoryKiB(const rpc::DomainRef& dom) const
{
    Domain& d = find(dom);
    return (d.active() ? d.live : d.def).memoryKiB;
}

// --- console ----------------------------------------------------------------------

void DomainManager::openConsole(const rpc::DomainRef& dom, const std::optional<std::string>& devName,
                                unsigned flags, std::shared_ptr<rpc::Stream> stream)
{
    checkFlags(flags, VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE);
    Domain& d = running(dom);
    if (devName && *devName != "serial0" && *devName != "console0")
        fail(VIR_ERR_INVALID_ARG, conf::subst(_("cannot find character device %1"), {*devName}));
    if (!d.live.serial || d.live.serial->source.type != conf::CharSource::Type::Pty ||
        d.live.serial->source.path.empty())
        fail(VIR_ERR_OPERATION_FAILED, _("the domain has no pty serial console"));
    if (d.console) {
        if (!(flags & VIR_DOMAIN_CONSOLE_FORCE))
            fail(VIR_ERR_OPERATION_FAILED, _("Active console session exists for this domain"));
        closeConsole(d);
    }
    UniqueFd fd(::open(d.live.serial->source.path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!fd)
        fail(VIR_ERR_OPERATION_FAILED, d.live.serial->source.path + ": " + std::strerror(errno));
    termios t{};
    if (::tcgetattr(fd.get(), &t) == 0) {
        ::cfmakeraw(&t);
        ::tcsetattr(fd.get(), TCSANOW, &t);
    }
    auto console = std::make_unique<DomainConsole>();
    console->fd = std::move(fd);
    console->stream = stream;
    int consoleFd = console->fd.get();
    std::string uuid = d.def.uuid;
    auto close = [this, uuid] {
        auto it = domains_.find(uuid);
        if (it != domains_.end())
            closeConsole(*it->second);
    };
    stream->setHandlers({[consoleFd](std::span<const std::uint8_t> bytes) {
                             // The guest reads slowly or not at all: what the pty cannot take is dropped,
                             // as a real serial line would.
                             (void)!::write(consoleFd, bytes.data(), bytes.size());
                         },
                         close, close});
    loop_.watch(consoleFd, EPOLLIN, [this, uuid, consoleFd](std::uint32_t events) {
        auto it = domains_.find(uuid);
        if (it == domains_.end() || !it->second->console)
            return;
        DomainConsole& c = *it->second->console;
        std::uint8_t buf[4096];
        ssize_t n = ::read(consoleFd, buf, sizeof buf);
        if (n > 0) {
            c.stream->send({buf, static_cast<size_t>(n)});
        } else if ((n < 0 && errno != EAGAIN && errno != EINTR) || (events & (EPOLLHUP | EPOLLERR) && n <= 0)) {
            c.stream->endOfData();
            closeConsole(*it->second);
        }
    });
    d.console = std::move(console);
}

void DomainManager::closeConsole(Domain& d)
{
    if (!d.console)
        return;
    std::unique_ptr<DomainConsole> c = std::move(d.console);
    loop_.unwatch(c->fd.get());
    c->stream->setHandlers({});   // the stream may outlive this manager
    if (!c->stream->closed())
        c->stream->endOfData();
}

// --- persistence and restart ----------------------------------------------------------

void DomainManager::saveStatus(const Domain& d) const
{
    DomainStatus s;
    s.def = d.live;
    s.def.id = -1;
    s.id = d.id;
    s.pid = d.vmm ? d.vmm->pid() : 0;
    s.state = d.state;
    s.reason = d.reason;
    s.serialPty = d.live.serial ? d.live.serial->source.path : "";
    if (d.live.serial && d.live.serial->source.type == conf::CharSource::Type::Pty)
        s.def.serial->source.path.clear();
    s.createdTaps = d.createdTaps;
    s.vmmUid = d.vmmUid;
    s.vmmGid = d.vmmGid;
    s.persistent = d.persistent;
    s.startId = d.startId;
    s.vmmDir = d.vmmDir;
    s.vmmHoldsLock = d.vmmHoldsLock;
    try {
        store_.saveStatus(s);
    } catch (const std::exception& e) {
        std::cerr << "virtmicad: " << e.what() << std::endl;
    }
}

std::string DomainManager::cgroupOf(const conf::DomainDef& def) const
{
    // By uuid: a name may hold any character, and a renamed domain keeps its cgroup.
    // None when this daemon confines nothing (a confined VMM found after a restart
    // without --vmm-uids keeps its cgroup).
    if (!options_.confinement)
        return {};
    return options_.confinement->cgroupParent + "/mica-" + def.uuid;
}

std::optional<process::VmmConfinement> DomainManager::confinementFor(const conf::DomainDef& def) const
{
    if (!options_.confinement) {
        if (def.seclabel && def.seclabel->isStatic)
            fail(VIR_ERR_CONFIG_UNSUPPORTED,
                 _("a static <seclabel> needs a daemon that confines VMMs (vmm_uids or vmm_user in virtmicad.conf)"));
        return std::nullopt;
    }
    const auto& policy = *options_.confinement;
    // Its root is mounted over NAME/jail, in its own mount namespace; in it its run
    // directory (NAME/vmm) is all it sees of the daemon's.
    std::string runDir = store_.runDir(def.name);
    auto confinement = [&](uid_t uid, gid_t gid) {
        return process::VmmConfinement{uid, gid, cgroupOf(def), store_.jailDir(def.name), {runDir}};
    };
    if (def.seclabel && def.seclabel->isStatic) {
        try {
            auto [uid, gid] = conf::resolveDacLabel(def.seclabel->label);
            return confinement(uid, gid);
        } catch (const conf::ConfError& e) {
            failConf(e);
        }
    }
    if (!policy.user.empty())
        return confinement(policy.userUid, policy.userGid);
    std::set<uid_t> taken;
    for (const auto& [uuid, other] : domains_)
        if (other->vmmUid)
            taken.insert(*other->vmmUid);
    for (uid_t uid = policy.firstUid;; ++uid) {
        if (!taken.count(uid) && process::uidIsFree(uid))
            return confinement(uid, static_cast<gid_t>(uid));
        if (uid == policy.lastUid)
            break;
    }
    fail(VIR_ERR_OPERATION_FAILED,
         conf::subst(_("no free VMM uid: every uid of %1-%2 is taken by a running domain or a user"),
                     {std::to_string(policy.firstUid), std::to_string(policy.lastUid)}));
}

void DomainManager::emit(const Domain& d, int event, int detail) const
{
    if (hooks_.lifecycle)
        hooks_.lifecycle(ref(d), event, detail);
}

namespace {

// Whether lockPath is free, waiting up to a few seconds for a holder that is on its way out.
bool waitLockFree(const std::string& lockPath)
{
    for (int i = 0; i < 250; ++i) {
        if (!process::VmmLock::held(lockPath))
            return true;
        ::usleep(20000);
    }
    return false;
}

}  // namespace

void DomainManager::stopHalfStarted(const DomainStatus& s)
{
    std::string lockPath = store_.lockPath(s.def.name);
    // The pid is killed only if that process holds the lock file open (a pid reused by
    // another process is left alone), checked while its pidfd is open, so the process
    // checked is the one signalled.
    if (auto proc = process::VmmProcess::adopt(s.pid)) {
        if (process::VmmLock::openedBy(s.pid, lockPath) && !proc->ended()) {
            proc->kill(SIGKILL);
            if (!proc->waitEnded(10000))
                store_.note(s.def.name, "the VMM of an unfinished start, pid " + std::to_string(s.pid) +
                                            ", did not end on SIGKILL");
            else
                store_.note(s.def.name, "stopped the VMM of an unfinished start, pid " + std::to_string(s.pid));
        }
    }
    // A child still waiting at its start gate exits by itself now that its daemon is gone.
    if (!waitLockFree(lockPath))
        store_.note(s.def.name, "the VMM lock of an unfinished start is still held");
}

void DomainManager::load()
{
    for (auto& def : store_.loadConfigs()) {
        if (domains_.count(def.uuid) || findByName(def.name)) {
            std::cerr << "virtmicad: " << def.name << ": " << _("skipping a duplicate definition") << std::endl;
            continue;
        }
        auto d = std::make_unique<Domain>();
        d->def = std::move(def);
        // A managed save found on disk (the daemon may have died right after writing
        // it): the domain is shut off because it was saved, and start resumes it.
        if (store_.hasManagedSave(d->def.name))
            d->reason = VIR_DOMAIN_SHUTOFF_SAVED;
        insert(std::move(d));
    }
    // Running VMMs of an earlier daemon: the status file says which process and how to
    // reach it; the VMM's own answer (pid, state) decides whether it is still ours. A
    // VMM whose process lives but does not answer (stopped, hung) is kept as the status
    // file describes it: treating it as gone would orphan a live process.
    for (auto& s : store_.loadStatuses()) {
        const std::string name = s.def.name;
        auto cleanUp = [&](const std::string& why) {
            store_.note(name, why);
            for (const auto& tap : s.createdTaps)
                process::deleteTap(tap);
            process::removeCgroup(cgroupOf(s.def));
            store_.removeDomainDir(name);
        };
        if (s.starting) {
            // The client was never told the domain runs: it does not, and no VMM of that
            // start survives this (the domain ends shut off, with none).
            stopHalfStarted(s);
            cleanUp("a start of this domain did not finish before the daemon stopped; its VMM, if any, was stopped");
            continue;
        }
        nlohmann::json vmInfo;
        auto proc = process::VmmProcess::adopt(s.pid);
        // The pid is the VMM's only while that process holds the domain's lock file: a
        // pid reused by another process after the VMM died is not ours to adopt.
        if (proc && s.vmmHoldsLock && !process::VmmLock::openedBy(s.pid, store_.lockPath(name)))
            proc.reset();
        std::string socket = s.vmmDir + "/api.sock";
        std::string vmState;
        bool answered = false;
        if (proc) {
            try {
                auto ping = process::vmmRequest(socket, "GET", "vmm.ping", std::nullopt, kReconnectCallMs);
                answered = true;
                auto info = process::vmmRequest(socket, "GET", "vm.info", std::nullopt, kReconnectCallMs);
                if (ping.ok() && ping.peerPid == s.pid && info.ok()) {
                    vmState = info.body.value("state", "");
                    vmInfo = info.body;
                }
            } catch (const std::exception&) {
            }
        }
        bool hung = proc && !answered && process::vmmSocketReady(socket);
        if (vmState != "Running" && vmState != "Paused" && !hung) {
            cleanUp("the VMM of this domain is gone (found after a daemon restart)");
            continue;
        }
        Domain* d = domains_.count(s.def.uuid) ? domains_[s.def.uuid].get() : nullptr;
        if (!d) {
            auto owned = std::make_unique<Domain>();
            owned->def = s.def;
            d = &insert(std::move(owned));
        } else if (formatDomainXml(d->def, VIR_DOMAIN_XML_INACTIVE) !=
                   formatDomainXml(s.def, VIR_DOMAIN_XML_INACTIVE)) {
            d->newDef = d->def;   // redefined while running
            d->def = s.def;
        }
        d->persistent = s.persistent;
        d->live = s.def;
        d->live.id = s.id;
        if (d->live.serial && d->live.serial->source.type == conf::CharSource::Type::Pty)
            d->live.serial->source.path = s.serialPty;
        d->id = s.id;
        ++d->incarnation;
        d->vmm = std::move(proc);
        d->apiSocket = socket;
        d->vmmDir = s.vmmDir;
        d->startId = s.startId;
        d->vmmHoldsLock = s.vmmHoldsLock;
        if (!s.vmmHoldsLock) {
            // A VMM of the older layout holds no lock: the daemon holds it in its place.
            try {
                d->lock = process::VmmLock::tryAcquire(store_.lockPath(name));
            } catch (const std::exception& e) {
                store_.note(name, std::string("cannot take the VMM lock: ") + e.what());
            }
        }
        try {
            d->events = process::VmmEventChannel::open(s.vmmDir + "/events");
        } catch (const std::exception& e) {
            store_.note(name, std::string("no event channel: ") + e.what());
        }
        d->createdTaps = s.createdTaps;
        d->vmmUid = s.vmmUid;
        d->vmmGid = s.vmmGid;
        if (hung) {
            d->state = s.state;
            d->reason = s.reason;
        } else {
            d->state = vmState == "Paused" ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING;
            d->reason = d->state == s.state ? s.reason
                        : d->state == VIR_DOMAIN_PAUSED ? int(VIR_DOMAIN_PAUSED_UNKNOWN)
                                                        : int(VIR_DOMAIN_RUNNING_UNKNOWN);
        }
        nextId_ = std::max(nextId_, s.id + 1);
        if (!vmInfo.is_null())
            reconcileDisks(*d, vmInfo);
        watch(*d);
        store_.note(name, "reconnected to the VMM, pid " + std::to_string(s.pid) +
                              (hung ? " (it does not answer its API)" : ""));
    }
    // Directories with no status: a start that died before its first record (no VMM
    // was spawned then), or one whose VMM is still leaving (it exits by itself at its
    // start gate, VmmProcess::spawn). Removed once no one holds the lock.
    for (const auto& name : store_.strayDomainDirs()) {
        if (waitLockFree(store_.lockPath(name)))
            store_.removeDomainDir(name);
        else
            std::cerr << "virtmicad: " << store_.domainDir(name) << ": "
                      << _("left in place: a process holds its VMM lock but no status names it") << std::endl;
    }
    // Autostart: persistent domains with a link that are not running yet, and those the
    // last daemon managed-saved as it stopped (on_stop); from their managed save images
    // when they have one, as `virsh start`.
    std::set<std::string> savedOnStop;
    for (const auto& name : store_.takeSavedOnStop())
        savedOnStop.insert(name);
    for (auto& [uuid, d] : domains_) {
        if (d->active() || !d->persistent ||
            !(store_.autostart(d->def.name) ||
              (savedOnStop.count(d->def.name) && store_.hasManagedSave(d->def.name))))
            continue;
        std::string name = d->def.name;
        runJob(*d, "autostart", [this](Domain& x) { startOrRestore(x, false, false); }, [name](JobOutcome o) {
            if (o.error)
                std::cerr << "virtmicad: autostart of " << name << ": " << o.error->message.value_or("") << std::endl;
        });
    }
}

void DomainManager::managedSaveForStop(std::function<void()> done)
{
    std::vector<std::string> names;
    for (auto& [uuid, d] : domains_)
        if (d->active() && d->persistent)
            names.push_back(d->def.name);
    // Named before any is saved: a daemon killed halfway leaves each one either running
    // (the next daemon takes it back) or saved (it restores it).
    try {
        store_.recordSavedOnStop(names);
    } catch (const std::exception& e) {
        std::cerr << "virtmicad: " << e.what() << std::endl;
    }
    auto pending = std::make_shared<std::size_t>(names.size() + 1);
    auto one = [pending, done] {
        if (--*pending == 0)
            done();
    };
    for (const auto& name : names) {
        Domain* d = findByName(name);
        try {
            managedSave(ref(*d), 0, [name, one](JobOutcome o) {
                if (o.error)
                    std::cerr << "virtmicad: managed save of " << name << " at stop: "
                              << o.error->message.value_or("") << std::endl;
                one();
            });
        } catch (const std::exception& e) {
            std::cerr << "virtmicad: managed save of " << name << " at stop: " << e.what() << std::endl;
            one();
        }
    }
    one();
}

}  // namespace mica::domain
