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
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include "ConfError.h"
#include "DomainCapsCheck.h"
#include "DomainXmlFormatter.h"
#include "DomainXmlParser.h"
#include "RpcError.h"
#include "Tap.h"
#include "UniqueFd.h"
#include "VmConfigTranslator.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

using rpc::RpcError;

namespace {

// How long a starting VMM may take to open its API socket (a loaded host or an
// emulated one is slow to exec and map a large binary).
constexpr int kVmmStartMs = 30000;

// libvirt's servers put the error code's own text in front of the message (the
// client shows the message as it comes).
const char* prefix(virErrorNumber code)
{
    switch (code) {
    case VIR_ERR_NO_DOMAIN: return _("Domain not found");
    case VIR_ERR_OPERATION_INVALID: return _("Requested operation is not valid");
    case VIR_ERR_OPERATION_FAILED: return _("operation failed");
    case VIR_ERR_INVALID_ARG: return _("invalid argument");
    case VIR_ERR_ARGUMENT_UNSUPPORTED: return _("argument unsupported");
    case VIR_ERR_NO_SUPPORT: return _("this function is not supported by the connection driver");
    default: return _("internal error");
    }
}

[[noreturn]] void fail(virErrorNumber code, const std::string& message)
{
    throw RpcError(code, VIR_FROM_DOMAIN, std::string(prefix(code)) + ": " + message);
}

[[noreturn]] void failConf(const conf::ConfError& e)
{
    throw RpcError(e.code(), VIR_FROM_DOMAIN, std::string(conf::errorCodePrefix(e.code())) + ": " + e.what());
}

std::string uuidText(const rpc::Uuid& u)
{
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < u.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out += '-';
        out += hex[u[i] >> 4];
        out += hex[u[i] & 15];
    }
    return out;
}

rpc::Uuid uuidBytes(const std::string& text)
{
    rpc::Uuid u{};
    size_t n = 0;
    for (size_t i = 0; i + 1 < text.size() && n < u.size(); ++i) {
        if (text[i] == '-')
            continue;
        u[n++] = static_cast<std::uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16));
        ++i;
    }
    return u;
}

void checkFlags(unsigned flags, unsigned allowed)
{
    if (flags & ~allowed) {
        char buf[96];
        std::snprintf(buf, sizeof buf, _("unsupported flags (0x%x)"), flags & ~allowed);
        fail(VIR_ERR_INVALID_ARG, buf);
    }
}

}  // namespace

struct DomainManager::Console {
    UniqueFd fd;
    std::shared_ptr<rpc::Stream> stream;
};

struct DomainManager::Domain {
    conf::DomainDef def;                  // the definition (next start uses newDef if set)
    std::optional<conf::DomainDef> newDef;  // defined while running
    conf::DomainDef live;                 // while running: def as started + runtime facts
    bool persistent = true;
    int id = -1;
    int state = VIR_DOMAIN_SHUTOFF;
    int reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
    std::optional<process::VmmProcess> vmm;
    std::string apiSocket, eventsPath;
    std::uint64_t eventsOffset = 0;
    std::vector<std::string> createdTaps;
    bool destroying = false;      // destroy() asked the VMM to end
    bool guestPoweredOff = false; // the event monitor said "shutdown"
    bool rebootOnPoweroff = false; // an ACPI reboot: start again once the guest powered off
    std::unique_ptr<Console> console;

    bool active() const { return id > 0; }
};

DomainManager::DomainManager(rpc::EventLoop& loop, DomainStore& store, std::string vmmPath, DomainHooks hooks)
    : loop_(loop), store_(store), vmmPath_(std::move(vmmPath)), hooks_(std::move(hooks))
{
}

DomainManager::~DomainManager()
{
    // Running VMMs stay: a restarted daemon finds them again.
    for (auto& [uuid, d] : domains_) {
        closeConsole(*d);
        if (d->vmm)
            loop_.unwatch(d->vmm->pidfd());
    }
}

// --- lookups ---------------------------------------------------------------------

rpc::DomainRef DomainManager::ref(const Domain& d) const
{
    return {d.def.name, uuidBytes(d.def.uuid), d.active() ? d.id : -1};
}

DomainManager::Domain& DomainManager::find(const rpc::DomainRef& dom) const
{
    auto it = domains_.find(uuidText(dom.uuid));
    if (it == domains_.end())
        fail(VIR_ERR_NO_DOMAIN, conf::subst(_("no domain with matching uuid '%1' (%2)"), {uuidText(dom.uuid), dom.name}));
    return *it->second;
}

DomainManager::Domain* DomainManager::findByName(const std::string& name) const
{
    for (auto& [uuid, d] : domains_)
        if (d->def.name == name)
            return d.get();
    return nullptr;
}

DomainManager::Domain& DomainManager::running(const rpc::DomainRef& dom) const
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
        bool autostart = d->persistent && store_.autostart(d->def.name);
        if (!want(VIR_CONNECT_LIST_DOMAINS_ACTIVE, VIR_CONNECT_LIST_DOMAINS_INACTIVE, active) ||
            !want(VIR_CONNECT_LIST_DOMAINS_PERSISTENT, VIR_CONNECT_LIST_DOMAINS_TRANSIENT, d->persistent) ||
            !want(VIR_CONNECT_LIST_DOMAINS_AUTOSTART, VIR_CONNECT_LIST_DOMAINS_NO_AUTOSTART, autostart) ||
            !want(VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE, true) ||
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
        return def;
    } catch (const conf::ConfError& e) {
        failConf(e);
    }
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
    bool isNew = !same;
    if (!same) {
        auto d = std::make_unique<Domain>();
        same = d.get();
        domains_[def.uuid] = std::move(d);
    }
    if (same->active())
        same->newDef = def;
    else
        same->def = def;
    same->persistent = true;
    emit(*same, VIR_DOMAIN_EVENT_DEFINED, isNew ? VIR_DOMAIN_EVENT_DEFINED_ADDED : VIR_DOMAIN_EVENT_DEFINED_UPDATED);
    return ref(*same);
}

void DomainManager::undefine(const rpc::DomainRef& dom, unsigned flags)
{
    // Mica keeps no managed save images, snapshots, NVRAM or TPM state yet: asking to
    // remove them is asking to remove nothing.
    checkFlags(flags, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                          VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM |
                          VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_TPM |
                          VIR_DOMAIN_UNDEFINE_KEEP_TPM);
    Domain& d = find(dom);
    if (!d.persistent)
        fail(VIR_ERR_OPERATION_INVALID, _("cannot undefine transient domain"));
    store_.removeConfig(d.def.name);
    emit(d, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
    if (d.active()) {
        d.persistent = false;   // goes away when it stops
        d.newDef.reset();
        saveStatus(d);
    } else {
        domains_.erase(d.def.uuid);
    }
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

// --- start and stop ----------------------------------------------------------------

rpc::DomainRef DomainManager::start(const rpc::DomainRef& dom, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY | VIR_DOMAIN_START_FORCE_BOOT);
    if (flags & VIR_DOMAIN_START_AUTODESTROY)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("autodestroy is not supported"));
    Domain& d = find(dom);
    if (d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is already running"));
    startDomain(d, flags & VIR_DOMAIN_START_PAUSED);
    return ref(d);
}

rpc::DomainRef DomainManager::createXml(const std::string& xml, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_VALIDATE);
    conf::DomainDef def = parseNew(xml, (flags & VIR_DOMAIN_START_VALIDATE) ? VIR_DOMAIN_DEFINE_VALIDATE : 0);
    Domain* existing = domains_.count(def.uuid) ? domains_[def.uuid].get() : findByName(def.name);
    if (existing && existing->active())
        fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("domain '%1' is already running"), {def.name}));
    if (existing && (existing->def.uuid != def.uuid || existing->def.name != def.name))
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("domain '%1' already exists with uuid %2"),
                                                   {existing->def.name, existing->def.uuid}));
    Domain* d = existing;
    if (!d) {
        auto owned = std::make_unique<Domain>();
        d = owned.get();
        d->persistent = false;
        d->def = def;
        domains_[def.uuid] = std::move(owned);
    } else {
        d->newDef = d->def;   // a persistent domain started from other XML keeps its definition
        d->def = def;
    }
    try {
        startDomain(*d, flags & VIR_DOMAIN_START_PAUSED);
    } catch (...) {
        if (!d->persistent)
            domains_.erase(def.uuid);
        else if (d->newDef)
            d->def = *std::exchange(d->newDef, std::nullopt);
        throw;
    }
    return ref(*d);
}

void DomainManager::startDomain(Domain& d, bool paused)
{
    if (d.newDef)
        d.def = *std::exchange(d.newDef, std::nullopt);
    conf::DomainDef def = d.def;
    const std::string name = def.name;
    conf::RuntimePaths paths;
    paths.stateDir = store_.paths().stateDir;
    // <cid auto='yes'/>: the lowest guest CID no running domain uses.
    std::set<unsigned> cids;
    for (auto& [uuid, other] : domains_)
        if (other->active() && other->live.vsock)
            cids.insert(other->live.vsock->cid);
    while (cids.count(paths.autoVsockCid))
        ++paths.autoVsockCid;

    conf::Translation t;
    try {
        t = conf::toVmConfig(def, paths);
    } catch (const conf::ConfError& e) {
        failConf(e);
    }
    std::string runDir = store_.runDir(name);
    std::error_code ec;
    std::filesystem::remove_all(runDir, ec);
    std::filesystem::create_directories(runDir, ec);
    d.apiSocket = runDir + "/api.sock";
    d.eventsPath = runDir + "/events.jsonl";
    d.eventsOffset = 0;
    d.createdTaps.clear();
    d.destroying = d.guestPoweredOff = false;

    auto undo = [&] {
        if (d.vmm) {
            d.vmm->kill(SIGKILL);
            d.vmm->waitEnded(5000);
            d.vmm.reset();
        }
        for (const auto& tap : d.createdTaps)
            process::deleteTap(tap);
        d.createdTaps.clear();
        std::filesystem::remove_all(runDir, ec);
    };
    try {
        // The TAP names the VMM will open: given, or generated from the uuid.
        for (size_t i = 0; i < def.nets.size(); ++i)
            if (def.nets[i].targetDev.empty())
                def.nets[i].targetDev = conf::generatedTapName(def, i);
        for (const auto& action : t.hostActions) {
            unsigned pairs = 1;
            for (const auto& net : def.nets)
                if (net.targetDev == action.tap)
                    pairs = std::max(1u, net.queues);
            if (process::createTap(action.tap, pairs, action.bridge, action.mtu))
                d.createdTaps.push_back(action.tap);
        }
        std::vector<std::string> argv = {vmmPath_, "--api-socket", d.apiSocket, "--event-monitor",
                                         "path=" + d.eventsPath};
        if (def.onReboot == conf::LifecycleAction::Destroy)
            argv.insert(argv.end(), {"--on-reboot", "exit"});
        store_.note(name, "starting " + vmmPath_);
        d.vmm = process::VmmProcess::spawn(argv, store_.logPath(name));

        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kVmmStartMs);
        while (!process::vmmSocketReady(d.apiSocket)) {
            if (d.vmm->ended())
                throw std::runtime_error(_("the VMM ended while starting; see ") + store_.logPath(name));
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error(_("the VMM did not open its API socket in time"));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        auto call = [&](const char* method, const char* endpoint, const std::optional<nlohmann::json>& body) {
            auto r = process::vmmRequest(d.apiSocket, method, endpoint, body);
            if (!r.ok())
                throw std::runtime_error(std::string(endpoint) + ": " + r.errorText());
            return r;
        };
        call("PUT", "vm.create", nlohmann::json(t.config));
        call("PUT", "vm.boot", std::nullopt);
        if (paused)
            call("PUT", "vm.pause", std::nullopt);
        auto info = call("GET", "vm.info", std::nullopt);
        d.live = def;
        if (info.body.contains("serial_path") && d.live.serial)
            d.live.serial->source.path = info.body["serial_path"].get<std::string>();
        if (d.live.vsock && d.live.vsock->autoCid)
            d.live.vsock->cid = paths.autoVsockCid;
    } catch (const RpcError&) {
        undo();
        throw;
    } catch (const std::exception& e) {
        store_.note(name, std::string("start failed: ") + e.what());
        undo();
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
    d.id = nextId_++;
    d.live.id = d.id;
    d.state = paused ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING;
    d.reason = paused ? int(VIR_DOMAIN_PAUSED_USER) : int(VIR_DOMAIN_RUNNING_BOOTED);
    saveStatus(d);
    watch(d);
    store_.note(name, "started, pid " + std::to_string(d.vmm->pid()) + ", id " + std::to_string(d.id));
    emit(d, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    if (paused)
        emit(d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
}

void DomainManager::watch(Domain& d)
{
    std::string uuid = d.def.uuid;
    loop_.watch(d.vmm->pidfd(), EPOLLIN, [this, uuid](std::uint32_t) {
        auto it = domains_.find(uuid);
        if (it != domains_.end() && it->second->vmm && it->second->vmm->ended())
            onVmmEnded(*it->second);
    });
}

void DomainManager::readEvents(Domain& d)
{
    std::ifstream in(d.eventsPath);
    if (!in)
        return;
    in.seekg(static_cast<std::streamoff>(d.eventsOffset));
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof())
            break;   // a line still being written: read it next time
        d.eventsOffset += line.size() + 1;
        auto ev = nlohmann::json::parse(line, nullptr, false);
        if (!ev.is_object() || !ev.contains("event") || !ev["event"].is_string())
            continue;
        std::string name = ev["event"].get<std::string>();
        if (name == "reboot") {
            if (hooks_.reboot)
                hooks_.reboot(ref(d));
        } else if (name == "shutdown") {
            d.guestPoweredOff = true;
        }
    }
}

void DomainManager::tick()
{
    for (auto& [uuid, d] : domains_)
        if (d->active())
            readEvents(*d);
}

void DomainManager::onVmmEnded(Domain& d)
{
    readEvents(d);
    std::optional<int> status = d.vmm->exitStatus();
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
    std::string uuid = d.def.uuid;
    if (rebooting && hooks_.reboot)
        hooks_.reboot(ref(d));
    stopped(d, reason, detail, restart);
    if (restart && domains_.count(uuid)) {
        try {
            startDomain(*domains_[uuid], false);
        } catch (const RpcError& e) {
            store_.note(domains_[uuid]->def.name, std::string("restart failed: ") + e.what());
        }
    }
}

void DomainManager::stopped(Domain& d, int reason, int eventDetail, bool restarting)
{
    loop_.unwatch(d.vmm->pidfd());
    closeConsole(d);
    for (const auto& tap : d.createdTaps)
        process::deleteTap(tap);
    d.createdTaps.clear();
    std::error_code ec;
    std::filesystem::remove_all(store_.runDir(d.def.name), ec);
    store_.removeStatus(d.def.name);
    rpc::DomainRef r = ref(d);
    d.vmm.reset();
    d.id = -1;
    d.state = VIR_DOMAIN_SHUTOFF;
    d.reason = reason;
    if (hooks_.lifecycle)
        hooks_.lifecycle(r, VIR_DOMAIN_EVENT_STOPPED, eventDetail);
    d.rebootOnPoweroff = false;
    if (!d.persistent && !restarting) {
        domains_.erase(d.def.uuid);
        return;
    }
    if (d.newDef)
        d.def = *std::exchange(d.newDef, std::nullopt);
}

void DomainManager::destroy(const rpc::DomainRef& dom, unsigned flags)
{
    checkFlags(flags, VIR_DOMAIN_DESTROY_GRACEFUL);
    Domain& d = running(dom);
    d.destroying = true;
    // SIGTERM first: the VMM stops its vCPUs and exits cleanly. A graceful destroy
    // stops there; otherwise SIGKILL follows after a short wait.
    d.vmm->kill(SIGTERM);
    if (!d.vmm->waitEnded(3000)) {
        if (flags & VIR_DOMAIN_DESTROY_GRACEFUL) {
            d.destroying = false;
            fail(VIR_ERR_OPERATION_FAILED, _("the VMM did not end on SIGTERM"));
        }
        d.vmm->kill(SIGKILL);
        if (!d.vmm->waitEnded(10000))
            fail(VIR_ERR_OPERATION_FAILED, _("the VMM did not end on SIGKILL"));
    }
    stopped(d, VIR_DOMAIN_SHUTOFF_DESTROYED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
}

// --- running domains ----------------------------------------------------------------

namespace {

void vmmCall(const std::string& socket, const char* endpoint)
{
    try {
        auto r = process::vmmRequest(socket, "PUT", endpoint);
        if (!r.ok())
            fail(r.status == 409 ? VIR_ERR_OPERATION_INVALID : VIR_ERR_OPERATION_FAILED, r.errorText());
    } catch (const process::VmmUnreachable& e) {
        fail(VIR_ERR_OPERATION_FAILED, e.what());
    }
}

}  // namespace

void DomainManager::shutdown(const rpc::DomainRef& dom, unsigned flags)
{
    if (flags & ~static_cast<unsigned>(VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN))
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("only the ACPI power button shutdown mode is supported"));
    Domain& d = running(dom);
    vmmCall(d.apiSocket, "vm.power-button");
    // Stays running until the guest powers off; the VMM's exit is the "stopped" event.
}

void DomainManager::reboot(const rpc::DomainRef& dom, unsigned flags)
{
    if (flags & ~static_cast<unsigned>(VIR_DOMAIN_REBOOT_ACPI_POWER_BTN))
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("only the default and ACPI power button reboot modes are supported"));
    Domain& d = running(dom);
    if (flags & VIR_DOMAIN_REBOOT_ACPI_POWER_BTN) {
        // As libvirt's QEMU driver does for this mode: the guest is asked to power off
        // and, when it has, the domain starts again instead of shutting off.
        vmmCall(d.apiSocket, "vm.power-button");
        d.rebootOnPoweroff = true;
        return;
    }
    // The default mode resets the machine, which boots the same configuration again
    // (there is no ACPI reboot request a guest could answer).
    reset(dom, 0);
    // As libvirt's QEMU driver after its reboot: running, and the reason says it booted.
    d.state = VIR_DOMAIN_RUNNING;
    d.reason = VIR_DOMAIN_RUNNING_BOOTED;
    saveStatus(d);
}

void DomainManager::reset(const rpc::DomainRef& dom, unsigned flags)
{
    checkFlags(flags, 0);
    Domain& d = running(dom);
    vmmCall(d.apiSocket, "vm.reboot");
    if (d.state == VIR_DOMAIN_PAUSED) {
        d.state = VIR_DOMAIN_RUNNING;
        d.reason = VIR_DOMAIN_RUNNING_BOOTED;
        saveStatus(d);
    }
}

void DomainManager::suspend(const rpc::DomainRef& dom)
{
    Domain& d = running(dom);
    if (d.state == VIR_DOMAIN_PAUSED)
        return;   // libvirt: suspending a paused domain succeeds
    vmmCall(d.apiSocket, "vm.pause");
    d.state = VIR_DOMAIN_PAUSED;
    d.reason = VIR_DOMAIN_PAUSED_USER;
    saveStatus(d);
    emit(d, VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
}

void DomainManager::resume(const rpc::DomainRef& dom)
{
    Domain& d = running(dom);
    if (d.state != VIR_DOMAIN_PAUSED)
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not paused"));
    vmmCall(d.apiSocket, "vm.resume");
    d.state = VIR_DOMAIN_RUNNING;
    d.reason = VIR_DOMAIN_RUNNING_UNPAUSED;
    saveStatus(d);
    emit(d, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
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
    const conf::DomainDef& def = d.newDef ? *d.newDef : d.def;
    return conf::formatDomainXml(def, flags | VIR_DOMAIN_XML_INACTIVE);
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
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && (flags & VIR_DOMAIN_AFFECT_CONFIG))
        fail(VIR_ERR_INVALID_ARG, _("live and config are mutually exclusive"));
    Domain& d = find(dom);
    if ((flags & VIR_DOMAIN_AFFECT_LIVE) && !d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    bool live = d.active() && !(flags & VIR_DOMAIN_AFFECT_CONFIG);
    const conf::DomainDef& def = live ? d.live : (d.newDef ? *d.newDef : d.def);
    return static_cast<int>((flags & VIR_DOMAIN_VCPU_MAXIMUM) ? def.vcpusMax : def.vcpusCurrent);
}

std::uint64_t DomainManager::maxMemoryKiB(const rpc::DomainRef& dom) const
{
    Domain& d = find(dom);
    return (d.active() ? d.live : d.def).memoryKiB;
}

nlohmann::json DomainManager::counters(const Domain& d) const
{
    try {
        auto r = process::vmmRequest(d.apiSocket, "GET", "vm.counters");
        if (r.ok() && r.body.is_object())
            return r.body;
    } catch (const process::VmmUnreachable&) {
    }
    return nlohmann::json::object();
}

namespace {

std::int64_t counter(const nlohmann::json& group, const char* name)
{
    if (group.is_object() && group.contains(name) && group[name].is_number_unsigned())
        return static_cast<std::int64_t>(group[name].get<std::uint64_t>());
    return -1;
}

}  // namespace

BlockStats DomainManager::blockStats(const rpc::DomainRef& dom, const std::string& path) const
{
    Domain& d = running(dom);
    for (const auto& disk : d.live.disks) {
        if (disk.target != path && disk.source != path)
            continue;
        nlohmann::json c = counters(d).value("disk:" + disk.target, nlohmann::json::object());
        return {counter(c, "rd_reqs"), counter(c, "rd_bytes"), counter(c, "wr_reqs"), counter(c, "wr_bytes"),
                counter(c, "errors")};
    }
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("invalid path: %1"), {path}));
}

InterfaceStats DomainManager::interfaceStats(const rpc::DomainRef& dom, const std::string& device) const
{
    Domain& d = running(dom);
    for (size_t i = 0; i < d.live.nets.size(); ++i) {
        const auto& net = d.live.nets[i];
        if (net.targetDev != device && net.mac != device)
            continue;
        nlohmann::json c = counters(d).value("net:net" + std::to_string(i), nlohmann::json::object());
        InterfaceStats s;
        s.rxBytes = counter(c, "rx_bytes");
        s.rxPackets = counter(c, "rx_packets");
        s.txBytes = counter(c, "tx_bytes");
        s.txPackets = counter(c, "tx_packets");
        s.txDrop = counter(c, "tx_drops");
        return s;
    }
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("invalid path, '%1' is not a known interface"), {device}));
}

std::vector<std::pair<int, std::uint64_t>> DomainManager::memoryStats(const rpc::DomainRef& dom) const
{
    Domain& d = running(dom);
    return {{VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, d.live.currentMemoryKiB},
            {VIR_DOMAIN_MEMORY_STAT_RSS, d.vmm->rssKiB()}};
}

process::VmmProcess::CpuTimes DomainManager::cpuTimes(const rpc::DomainRef& dom) const
{
    return running(dom).vmm->cpuTimes();
}

std::vector<rpc::TypedParam> DomainManager::statsOf(const Domain& d, unsigned groups) const
{
    std::vector<rpc::TypedParam> p;
    auto u64 = [&p](std::string key, std::uint64_t v) { p.push_back({std::move(key), v}); };
    auto u32 = [&p](std::string key, unsigned v) { p.push_back({std::move(key), std::uint32_t(v)}); };
    const conf::DomainDef& def = d.active() ? d.live : d.def;
    if (groups & VIR_DOMAIN_STATS_STATE) {
        p.push_back({"state.state", std::int32_t(d.state)});
        p.push_back({"state.reason", std::int32_t(d.reason)});
    }
    if ((groups & VIR_DOMAIN_STATS_CPU_TOTAL) && d.vmm) {
        auto t = d.vmm->cpuTimes();
        u64("cpu.time", t.totalNs());
        u64("cpu.user", t.userNs);
        u64("cpu.system", t.systemNs);
    }
    if (groups & VIR_DOMAIN_STATS_BALLOON) {
        u64("balloon.current", d.active() ? def.currentMemoryKiB : def.memoryKiB);
        u64("balloon.maximum", def.memoryKiB);
    }
    if (groups & VIR_DOMAIN_STATS_VCPU) {
        u32("vcpu.current", def.vcpusCurrent);
        u32("vcpu.maximum", def.vcpusMax);
    }
    nlohmann::json c = (groups & (VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK)) && d.active()
                           ? counters(d) : nlohmann::json::object();
    auto add = [&](const std::string& key, const nlohmann::json& group, const char* name) {
        if (std::int64_t v = counter(group, name); v >= 0)
            u64(key, static_cast<std::uint64_t>(v));
    };
    if ((groups & VIR_DOMAIN_STATS_INTERFACE) && d.active()) {
        u32("net.count", static_cast<unsigned>(def.nets.size()));
        for (size_t i = 0; i < def.nets.size(); ++i) {
            std::string k = "net." + std::to_string(i) + ".";
            p.push_back({k + "name", def.nets[i].targetDev});
            nlohmann::json g = c.value("net:net" + std::to_string(i), nlohmann::json::object());
            add(k + "rx.bytes", g, "rx_bytes");
            add(k + "rx.pkts", g, "rx_packets");
            add(k + "tx.bytes", g, "tx_bytes");
            add(k + "tx.pkts", g, "tx_packets");
            add(k + "tx.drop", g, "tx_drops");
        }
    }
    if ((groups & VIR_DOMAIN_STATS_BLOCK) && d.active()) {
        u32("block.count", static_cast<unsigned>(def.disks.size()));
        for (size_t i = 0; i < def.disks.size(); ++i) {
            std::string k = "block." + std::to_string(i) + ".";
            p.push_back({k + "name", def.disks[i].target});
            p.push_back({k + "path", def.disks[i].source});
            nlohmann::json g = c.value("disk:" + def.disks[i].target, nlohmann::json::object());
            add(k + "rd.reqs", g, "rd_reqs");
            add(k + "rd.bytes", g, "rd_bytes");
            add(k + "wr.reqs", g, "wr_reqs");
            add(k + "wr.bytes", g, "wr_bytes");
            add(k + "fl.reqs", g, "flush_reqs");
        }
    }
    return p;
}

std::vector<std::pair<rpc::DomainRef, std::vector<rpc::TypedParam>>> DomainManager::allStats(
    const std::vector<rpc::DomainRef>& doms, unsigned stats, unsigned flags) const
{
    const unsigned supported = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |
                               VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
    if ((flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS) && (stats & ~supported))
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("requested statistics are not supported by mica"));
    unsigned groups = stats ? (stats & supported) : supported;
    std::vector<std::pair<rpc::DomainRef, std::vector<rpc::TypedParam>>> out;
    unsigned listFlags = flags & ~(VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT | VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING |
                                   VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS);
    for (const auto& r : doms.empty() ? listAll(listFlags) : doms) {
        const Domain& d = find(r);
        out.emplace_back(ref(d), statsOf(d, groups));
    }
    return out;
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
    auto console = std::make_unique<Console>();
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
        Console& c = *it->second->console;
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
    std::unique_ptr<Console> c = std::move(d.console);
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
    s.persistent = d.persistent;
    try {
        store_.saveStatus(s);
    } catch (const std::exception& e) {
        std::cerr << "virtmicad: " << e.what() << std::endl;
    }
}

void DomainManager::emit(const Domain& d, int event, int detail) const
{
    if (hooks_.lifecycle)
        hooks_.lifecycle(ref(d), event, detail);
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
        domains_[d->def.uuid] = std::move(d);
    }
    // Running VMMs of an earlier daemon: the status file says which process and how to
    // reach it; the VMM's own answer (pid, state) decides whether it is still ours.
    for (auto& s : store_.loadStatuses()) {
        const std::string name = s.def.name;
        auto proc = process::VmmProcess::adopt(s.pid);
        std::string socket = store_.runDir(name) + "/api.sock";
        std::string vmState;
        if (proc) {
            try {
                auto ping = process::vmmRequest(socket, "GET", "vmm.ping");
                auto info = process::vmmRequest(socket, "GET", "vm.info");
                if (ping.ok() && ping.body.value("pid", 0) == s.pid && info.ok())
                    vmState = info.body.value("state", "");
            } catch (const std::exception&) {
            }
        }
        if (vmState != "Running" && vmState != "Paused") {
            store_.note(name, "the VMM of this domain is gone (found after a daemon restart)");
            for (const auto& tap : s.createdTaps)
                process::deleteTap(tap);
            store_.removeStatus(name);
            std::error_code ec;
            std::filesystem::remove_all(store_.runDir(name), ec);
            continue;
        }
        Domain* d = domains_.count(s.def.uuid) ? domains_[s.def.uuid].get() : nullptr;
        if (!d) {
            auto owned = std::make_unique<Domain>();
            d = owned.get();
            d->def = s.def;
            domains_[s.def.uuid] = std::move(owned);
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
        d->vmm = std::move(proc);
        d->apiSocket = socket;
        d->eventsPath = store_.runDir(name) + "/events.jsonl";
        std::error_code ec;
        d->eventsOffset = std::filesystem::file_size(d->eventsPath, ec);
        if (ec)
            d->eventsOffset = 0;
        d->createdTaps = s.createdTaps;
        d->state = vmState == "Paused" ? VIR_DOMAIN_PAUSED : VIR_DOMAIN_RUNNING;
        d->reason = d->state == s.state ? s.reason
                    : d->state == VIR_DOMAIN_PAUSED ? int(VIR_DOMAIN_PAUSED_UNKNOWN)
                                                    : int(VIR_DOMAIN_RUNNING_UNKNOWN);
        nextId_ = std::max(nextId_, s.id + 1);
        watch(*d);
        store_.note(name, "reconnected to the VMM, pid " + std::to_string(s.pid));
    }
    // Autostart: persistent domains with a link that are not running yet.
    std::vector<std::string> toStart;
    for (auto& [uuid, d] : domains_)
        if (!d->active() && d->persistent && store_.autostart(d->def.name))
            toStart.push_back(uuid);
    for (const auto& uuid : toStart) {
        try {
            startDomain(*domains_[uuid], false);
        } catch (const RpcError& e) {
            std::cerr << "virtmicad: autostart of " << domains_[uuid]->def.name << ": " << e.what() << std::endl;
        }
    }
}

}  // namespace mica::domain
