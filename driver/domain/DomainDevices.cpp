// Devices attached to and detached from a domain: virsh attach-device, attach-disk,
// attach-interface, detach-device, detach-disk, detach-interface, detach-device-alias.
// --config edits the persistent definition (conf/DeviceXml.h gives the device what a
// whole definition would). --live hands a running VMM a disk or NIC (vm.add-disk,
// vm.add-net: the daemon does the host's part, as at start) or asks it to remove one
// (vm.remove-device, which the guest completes: the VMM's event says when).
#include <fcntl.h>
#include <libvirt/libvirt.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "DomainManager.h"
#include "ManagerSupport.h"
#include "Tap.h"
#include "VmConfigTranslator.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// How long a live detach waits for the guest before answering success with the removal
// still under way (libvirt's QEMU driver: 5 s, qemuDomainRemoveDeviceWaitTime), and how
// long the VMM gives the guest before it reports the removal failed.
constexpr std::int64_t kDetachWaitMs = 5000;
constexpr std::int64_t kRemovalTimeoutMs = 10000;

// Device errors keep their own code (a clash is OPERATION_INVALID, a device not there
// DEVICE_MISSING) with the prefix libvirt's daemon gives that code.
[[noreturn]] void failDevice(const conf::ConfError& e)
{
    fail(e.code(), e.what());
}

conf::DeviceDef parseFor(const std::string& xml, const conf::DomainDef& def, conf::DeviceXmlUse use)
{
    try {
        return conf::parseDeviceXml(xml, def, use);
    } catch (const conf::ConfError& e) {
        failDevice(e);
    }
}

std::string aliasIn(const conf::DomainDef& def, const conf::DeviceDef& device)
{
    try {
        return conf::findDevice(def, device);
    } catch (const conf::ConfError& e) {
        failDevice(e);
    }
}

void checkAlias(const conf::DomainDef& def, const std::string& alias)
{
    if (!conf::deviceByAlias(def, alias))
        fail(VIR_ERR_DEVICE_MISSING, conf::subst(_("no device found with alias %1"), {alias}));
}

// mica-vmm hot-plugs disks and NICs; its rng, vsock and console are set at boot.
void checkLiveKind(const conf::DeviceDef& device)
{
    if (!std::holds_alternative<conf::DiskDef>(device.device) && !std::holds_alternative<conf::NetDef>(device.device))
        fail(VIR_ERR_OPERATION_UNSUPPORTED,
             conf::subst(_("live attach or detach of %1 is not supported by mica (disks and interfaces only)"),
                         {device.what()}));
}

// The VMM's id of a device: a disk goes by its target (as block jobs name it).
std::string vmmIdOf(const conf::DeviceDef& device)
{
    if (auto* disk = std::get_if<conf::DiskDef>(&device.device))
        return disk->target;
    return device.alias();
}

std::shared_ptr<UniqueFd> openFile(const std::string& path, int flags)
{
    auto fd = std::make_shared<UniqueFd>(::open(path.c_str(), flags | O_CLOEXEC));
    if (!*fd)
        fail(VIR_ERR_OPERATION_FAILED, path + ": " + std::strerror(errno));
    return fd;
}

// "0000:00:05.0" -> 5; nullopt when mica's XML cannot describe it.
std::optional<unsigned> slotOfBdf(const nlohmann::json& answer)
{
    if (!answer.is_object() || !answer.contains("bdf") || !answer["bdf"].is_string())
        return std::nullopt;
    unsigned domain, bus, slot, function;
    char end;
    std::string bdf = answer["bdf"].get<std::string>();
    if (std::sscanf(bdf.c_str(), "%4x:%2x:%2x.%1x%c", &domain, &bus, &slot, &function, &end) != 4 || domain || bus ||
        function || slot == 0 || slot > 31)
        return std::nullopt;
    return slot;
}

}  // namespace

void DomainManager::attachDevice(const rpc::DomainRef& dom, const std::string& xml, unsigned flags, JobDone done)
{
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags);
    // Checked before the job, and again in it against the definitions as they are then.
    if (target.config)
        parseFor(xml, d.persistentDef(), conf::DeviceXmlUse::Attach);
    if (target.live)
        checkLiveKind(parseFor(xml, d.live, conf::DeviceXmlUse::Attach));
    runJob(d, "attach device", [this, xml, target](Domain& x) {
        std::optional<conf::DeviceDef> live, forConfig;
        if (target.live) {
            if (!x.active())
                fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
            live = parseFor(xml, x.live, conf::DeviceXmlUse::Attach);
            checkLiveKind(*live);
        }
        if (target.config) {
            forConfig = parseFor(xml, x.persistentDef(), conf::DeviceXmlUse::Attach);
            // One MAC for both halves of --persistent, as libvirt's one device in both.
            auto* net = std::get_if<conf::NetDef>(&forConfig->device);
            if (live && net && net->mac != std::get<conf::NetDef>(live->device).mac) {
                net->mac = std::get<conf::NetDef>(live->device).mac;
                for (const auto& other : x.persistentDef().nets)
                    if (other.mac == net->mac)
                        fail(VIR_ERR_OPERATION_INVALID,
                             conf::subst(_("interface with MAC address %1 already exists"), {net->mac}));
            }
        }
        auto config = [this, forConfig](Domain& y) {
            if (forConfig)
                editDefinition(y, [&](conf::DomainDef& def) { conf::addDevice(def, *forConfig); });
        };
        if (!live) {
            config(x);
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        attachLive(x, std::move(*live), config);
    }, std::move(done));
}

void DomainManager::attachLive(Domain& d, conf::DeviceDef device, std::function<void(Domain&)> config)
{
    nlohmann::json body;
    std::vector<std::shared_ptr<UniqueFd>> fds;
    std::optional<std::string> createdTap;
    if (auto* disk = std::get_if<conf::DiskDef>(&device.device)) {
        // As at start: the chain read first (the live XML shows it), every file opened
        // here and handed over, so a confined VMM needs no access to the images.
        disk->backingChain = readBackingChain(*disk);
        body = conf::diskConfig(*disk);
        nlohmann::json handed = nlohmann::json::object();
        handed[disk->source] = fds.size();
        fds.push_back(openFile(disk->source, disk->readonly ? O_RDONLY : O_RDWR));
        for (const auto& link : *disk->backingChain)
            if (!handed.contains(link.path)) {
                handed[link.path] = fds.size();
                fds.push_back(openFile(link.path, O_RDONLY));
            }
        body["handed_files"] = handed;
    } else {
        auto& net = std::get<conf::NetDef>(device.device);
        if (!conf::isUserAlias(net.alias)) {
            unsigned n = std::max(d.nextNetAlias, unsigned(std::stoul(net.alias.substr(3))));
            while (conf::hasAlias(d.live, "net" + std::to_string(n)))
                ++n;
            net.alias = "net" + std::to_string(n);
            d.nextNetAlias = n + 1;
        }
        if (net.targetDev.empty()) {
            // The generated names of this domain, past any its NICs or the host use.
            for (size_t i = 0; net.targetDev.empty(); ++i) {
                std::string name = conf::generatedTapName(d.live, i);
                bool used = process::tapExists(name);
                for (const auto& other : d.live.nets)
                    used = used || other.targetDev == name;
                if (!used)
                    net.targetDev = name;
            }
        }
        unsigned pairs = std::max(1u, net.queues);
        std::string bridge = net.type == conf::NetDef::Type::Bridge ? net.bridge : "";
        try {
            if (process::createTap(net.targetDev, pairs, bridge, net.mtu))
                createdTap = net.targetDev;
            body = conf::netConfig(net, net.targetDev);
            body.erase("tap");
            nlohmann::json indexes = nlohmann::json::array();
            for (auto& fd : process::openTapQueues(net.targetDev, pairs)) {
                indexes.push_back(fds.size());
                fds.push_back(std::make_shared<UniqueFd>(std::move(fd)));
            }
            body["fds"] = indexes;
        } catch (const std::exception& e) {
            if (createdTap)
                process::deleteTap(*createdTap);
            fail(VIR_ERR_OPERATION_FAILED, e.what());
        }
    }
    body["id"] = vmmIdOf(device);
    body["pci_slot"] = std::visit([](const auto& x) { return x.address->slot; }, device.device);
    if (fds.size() > process::kMaxRequestFds)
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("%1 needs more than %2 fds; mica-vmm takes at most that many"),
                                                   {device.what(), std::to_string(process::kMaxRequestFds)}));
    const char* endpoint = std::holds_alternative<conf::DiskDef>(device.device) ? "vm.add-disk" : "vm.add-net";
    store_.note(d.def.name, std::string(endpoint) + " " + device.what());
    vmmCall(d, endpoint, body, fds, [this, device, createdTap, config](Domain& x, std::optional<rpc::RemoteError> err,
                                                                        const nlohmann::json& answer) mutable {
        if (err) {
            if (createdTap)
                process::deleteTap(*createdTap);
            finishJob(x, {err, {}});
            return;
        }
        // Where the VMM put it (the slot asked for, unless the VMM says otherwise).
        if (auto slot = slotOfBdf(answer))
            std::visit([&](auto& dev) { dev.address = conf::PciAddress{*slot}; }, device.device);
        if (createdTap)
            x.createdTaps.push_back(*createdTap);
        conf::addDevice(x.live, device);
        saveStatus(x);
        if (hooks_.device)
            hooks_.device(ref(x), VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, device.alias());
        config(x);
        finishJob(x, {std::nullopt, ref(x)});
    });
}

void DomainManager::detachDevice(const rpc::DomainRef& dom, const std::string& xml, unsigned flags, JobDone done)
{
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags);
    conf::DeviceDef device = parseFor(xml, d.persistentDef(), conf::DeviceXmlUse::Detach);
    if (target.config)
        aliasIn(d.persistentDef(), device);
    if (target.live) {
        checkLiveKind(device);
        aliasIn(d.live, device);
    }
    runJob(d, "detach device", [this, device, target](Domain& x) {
        std::optional<std::string> configAlias;
        if (target.config)
            configAlias = aliasIn(x.persistentDef(), device);
        auto config = [this, configAlias](Domain& y) {
            if (configAlias)
                editDefinition(y, [&](conf::DomainDef& def) { conf::removeDevice(def, *configAlias); });
        };
        if (!target.live) {
            config(x);
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        detachLive(x, aliasIn(x.live, device), config);
    }, std::move(done));
}

void DomainManager::detachDeviceAlias(const rpc::DomainRef& dom, const std::string& alias, unsigned flags, JobDone done)
{
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags);
    if (target.config)
        checkAlias(d.persistentDef(), alias);
    if (target.live) {
        checkAlias(d.live, alias);
        checkLiveKind(*conf::deviceByAlias(d.live, alias));
    }
    runJob(d, "detach device", [this, alias, target](Domain& x) {
        if (target.config)
            checkAlias(x.persistentDef(), alias);
        auto config = [this, alias, target](Domain& y) {
            if (target.config)
                editDefinition(y, [&](conf::DomainDef& def) { conf::removeDevice(def, alias); });
        };
        if (!target.live) {
            config(x);
            finishJob(x, {std::nullopt, ref(x)});
            return;
        }
        detachLive(x, alias, config);
    }, std::move(done));
}

void DomainManager::detachLive(Domain& d, const std::string& alias, std::function<void(Domain&)> config)
{
    if (!d.active())
        fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
    auto device = conf::deviceByAlias(d.live, alias);
    if (!device)
        fail(VIR_ERR_DEVICE_MISSING, conf::subst(_("no device found with alias %1"), {alias}));
    checkLiveKind(*device);
    std::string id = vmmIdOf(*device);
    if (d.pendingRemovals.count(id))
        fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("unplug of device '%1' is already in progress"), {alias}));
    store_.note(d.def.name, "vm.remove-device " + device->what());
    // Recorded before the call: the guest may let go, and the event arrive, before the
    // VMM's answer is back here.
    d.pendingRemovals[id].alias = alias;
    vmmCall(d, "vm.remove-device", nlohmann::json{{"id", id}, {"timeout_ms", kRemovalTimeoutMs}}, {},
            [this, id, config](Domain& x, std::optional<rpc::RemoteError> err, const nlohmann::json&) {
                auto it = x.pendingRemovals.find(id);
                if (err) {
                    if (it != x.pendingRemovals.end())
                        x.pendingRemovals.erase(it);
                    finishJob(x, {err, {}});
                    return;
                }
                // The --config half now: the removal from the running guest is under way,
                // and libvirt's answer, whatever the guest does, covers both.
                config(x);
                if (it == x.pendingRemovals.end()) {
                    finishJob(x, {std::nullopt, ref(x)});
                    return;
                }
                it->second.accepted = true;
                it->second.answerByMs = rpc::EventLoop::nowMs() + kDetachWaitMs;
                if (auto outcome = it->second.outcome) {
                    std::string alias = it->second.alias;
                    x.pendingRemovals.erase(it);
                    answerRemoval(x, alias, *outcome);
                }
            });
}

void DomainManager::answerRemoval(Domain& d, const std::string& alias, const std::optional<std::string>& failure)
{
    if (!d.jobDone)
        return;
    if (failure)
        finishJob(d, {error(VIR_ERR_OPERATION_FAILED, conf::subst(_("unplug of device '%1' failed: %2"), {alias, *failure}))
                          .error(),
                      {}});
    else
        finishJob(d, {std::nullopt, ref(d)});
}

void DomainManager::onDeviceRemoval(Domain& d, const std::string& id, const std::optional<std::string>& failure)
{
    auto it = d.pendingRemovals.find(id);
    std::string alias = it != d.pendingRemovals.end() ? it->second.alias : "";
    // The detach job still waits for this (or will, once the VMM's answer is back).
    bool waiting = false;
    if (it != d.pendingRemovals.end()) {
        if (!it->second.accepted) {
            it->second.outcome = failure;
        } else {
            waiting = !it->second.answered;
            d.pendingRemovals.erase(it);
        }
    }
    if (failure) {
        if (alias.empty())
            return;   // not a removal this daemon asked for
        store_.note(d.def.name, "removal of " + alias + " failed: " + *failure);
        if (hooks_.device)
            hooks_.device(ref(d), VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, alias);
        if (waiting)
            answerRemoval(d, alias, failure);
        return;
    }
    // A removal this daemon did not wait for (one asked before a restart) is the live
    // definition's all the same: the VMM no longer has the device.
    for (const auto& dev : conf::pciDevices(std::as_const(d.live)))
        if (dev.id == id)
            alias = *dev.alias;
    if (alias.empty())
        return;
    auto device = conf::deviceByAlias(d.live, alias);
    if (device)
        if (auto* net = std::get_if<conf::NetDef>(&device->device)) {
            auto created = std::find(d.createdTaps.begin(), d.createdTaps.end(), net->targetDev);
            if (created != d.createdTaps.end()) {
                process::deleteTap(*created);
                d.createdTaps.erase(created);
            }
        }
    conf::removeDevice(d.live, alias);
    saveStatus(d);
    store_.note(d.def.name, "device " + alias + " removed");
    if (hooks_.device)
        hooks_.device(ref(d), VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, alias);
    if (waiting)
        answerRemoval(d, alias, std::nullopt);
}

void DomainManager::tickRemovals(std::int64_t nowMs)
{
    for (auto& [uuid, d] : domains_)
        for (auto& [id, removal] : d->pendingRemovals)
            if (removal.accepted && !removal.answered && nowMs >= removal.answerByMs) {
                // libvirt's answer: success, the device still there until the guest lets
                // it go (DEVICE_REMOVED, or DEVICE_REMOVAL_FAILED, tells when).
                removal.answered = true;
                if (d->jobDone)
                    finishJob(*d, {std::nullopt, ref(*d)});
            }
}

}  // namespace mica::domain
