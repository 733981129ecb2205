#include "VmConfigTranslator.h"

#include <cstdio>
#include <stdexcept>

namespace mica::conf {

namespace {

using Json = nlohmann::ordered_json;

Json charBackend(const CharSource* src)
{
    if (!src)
        return Json{{"mode", "off"}, {"path", nullptr}};
    switch (src->type) {
    case CharSource::Type::Pty: return Json{{"mode", "pty"}, {"path", nullptr}};
    case CharSource::Type::File: return Json{{"mode", "file"}, {"path", src->path}};
    case CharSource::Type::Unix: return Json{{"mode", "socket"}, {"path", src->path}};
    }
    return Json{{"mode", "off"}, {"path", nullptr}};
}

// One walk for both constnesses: Def is DomainDef or const DomainDef.
template <class Ref, class Def>
std::vector<Ref> walkPciDevices(Def& def)
{
    std::vector<Ref> out;
    for (size_t i = 0; i < def.disks.size(); ++i)
        out.push_back({def.disks[i].target, "disk '" + def.disks[i].target + "'", &def.disks[i].address, "disks", i,
                       &def.disks[i].alias});
    for (size_t i = 0; i < def.nets.size(); ++i)
        out.push_back({def.nets[i].alias, "interface " + def.nets[i].mac, &def.nets[i].address, "net", i,
                       &def.nets[i].alias});
    if (def.console)
        out.push_back({def.console->alias, "console", &def.console->address, "console", std::nullopt,
                       &def.console->alias});
    if (def.rng)
        out.push_back({def.rng->alias, "rng", &def.rng->address, "rng", std::nullopt, &def.rng->alias});
    if (def.vsock)
        out.push_back({def.vsock->alias, "vsock", &def.vsock->address, "vsock", std::nullopt, &def.vsock->alias});
    if (def.balloon.present)
        out.push_back({def.balloon.alias, "memballoon", &def.balloon.address, "balloon", std::nullopt,
                       &def.balloon.alias});
    return out;
}

}  // namespace

std::vector<PciDeviceRef> pciDevices(DomainDef& def)
{
    return walkPciDevices<PciDeviceRef>(def);
}

std::vector<ConstPciDeviceRef> pciDevices(const DomainDef& def)
{
    return walkPciDevices<ConstPciDeviceRef>(def);
}

void applyDeviceTree(DomainDef& def, const nlohmann::json& tree)
{
    for (auto& device : pciDevices(def)) {
        auto it = tree.is_object() ? tree.find(device.id) : tree.end();
        if (it == tree.end() || !it->is_object() || !it->contains("pci_bdf") || !(*it)["pci_bdf"].is_string())
            throw std::runtime_error("mica-vmm's device tree has no PCI address for " + device.what);
        unsigned domain, bus, slot, function;
        char end;
        std::string bdf = (*it)["pci_bdf"].get<std::string>();
        if (std::sscanf(bdf.c_str(), "%4x:%2x:%2x.%1x%c", &domain, &bus, &slot, &function, &end) != 4 || domain || bus ||
            function || slot == 0 || slot > 31)
            throw std::runtime_error("mica-vmm put " + device.what + " at an address mica cannot describe: " + bdf);
        *device.address = PciAddress{slot};
    }
}

Json HostAction::toJson() const
{
    Json j{{"action", "create_tap"}, {"tap", tap}};
    if (!bridge.empty())
        j["bridge"] = bridge;
    if (mtu)
        j["mtu"] = *mtu;
    return j;
}

std::string generatedTapName(const DomainDef& def, size_t index)
{
    std::string hex;
    for (char c : def.uuid)
        if (c != '-' && hex.size() < 8)
            hex += c;
    return "vm" + hex + "n" + std::to_string(index);  // <= 15 characters up to index 99999
}

Json ioLimitsJson(const IoLimits& limits)
{
    Json out = Json::object();
    for (const auto& f : kIoLimitFields)
        if (uint64_t v = fieldOf(limits, f))
            out[f.name] = v;
    return out;
}

Json diskConfig(const DiskDef& d)
{
    Json j{{"path", d.source},
           {"image_type", imageTypeName(d.format)},
           {"readonly", d.readonly},
           {"shared", d.shareable},
           {"direct", d.cache == std::optional<std::string>("none")},
           {"num_queues", d.queues ? d.queues : 1}};
    if (!d.serial.empty())
        j["serial"] = d.serial;
    j["discard"] = d.discard == std::optional<std::string>("unmap");
    if (d.iotune != IoLimits{})
        j["iotune"] = ioLimitsJson(d.iotune);
    return j;
}

Json netConfig(const NetDef& n, const std::string& tap)
{
    Json j{{"tap", tap},
           {"mac", n.mac},
           {"num_queues", 2 * (n.queues ? n.queues : 1)}};  // rx + tx queues: <driver queues> counts pairs
    if (n.mtu)
        j["mtu"] = *n.mtu;
    return j;
}

Translation toVmConfig(const DomainDef& def, const RuntimePaths& paths)
{
    Translation out;
    Json& c = out.config;

    Json payload{{"kernel", def.os.kernel}};
    if (!def.os.initrd.empty())
        payload["initramfs"] = def.os.initrd;
    payload["cmdline"] = def.os.cmdline;
    c["payload"] = payload;

    unsigned sockets = 1, cores = def.vcpusMax, threads = 1;
    if (def.cpu.hasTopology) {
        sockets = def.cpu.sockets;
        cores = def.cpu.cores;  // dies is always 1 (the parser refuses more)
        threads = def.cpu.threads;
    }
    c["cpus"] = Json{{"boot_vcpus", def.vcpusCurrent},
                     {"max_vcpus", def.vcpusMax},
                     {"topology", Json{{"sockets", sockets}, {"cores_per_socket", cores}, {"threads_per_core", threads}}}};
    // <vcpupin>: the VMM pins each vCPU thread as it starts, on every boot. (<emulatorpin>
    // is the daemon's to apply: it is about the VMM's other threads.)
    if (!def.tune.vcpuPin.empty()) {
        Json affinity = Json::array();
        for (const auto& [vcpu, cpus] : def.tune.vcpuPin)
            affinity.push_back(Json{{"vcpu", vcpu}, {"host_cpus", Json(std::vector<unsigned>(cpus.begin(), cpus.end()))}});
        c["cpus"]["affinity"] = affinity;
    }
    // Like libvirt's QEMU driver at start, guest RAM is a whole number of MiB (the VMM
    // maps it in pages and huge pages); the XML keeps what the user wrote.
    const uint64_t memoryBytes = (def.memoryKiB + 1023) / 1024 * (1ull << 20);
    c["memory"] = Json{{"size", memoryBytes},
                       {"hugepages", def.memoryBacking.hugepages},
                       {"memfd", def.memoryBacking.memfd()},
                       {"shared", def.memoryBacking.shared()}};
    c["serial"] = charBackend(def.serial ? &def.serial->source : nullptr);
    c["console"] = charBackend(def.console ? &def.console->source : nullptr);

    Json disks = Json::array();
    for (const auto& d : def.disks)
        disks.push_back(diskConfig(d));
    c["disks"] = disks;

    Json nets = Json::array();
    for (size_t i = 0; i < def.nets.size(); ++i) {
        const NetDef& n = def.nets[i];
        HostAction action;
        action.tap = n.targetDev.empty() ? generatedTapName(def, i) : n.targetDev;
        action.bridge = n.type == NetDef::Type::Bridge ? n.bridge : "";
        action.mtu = n.mtu;
        nets.push_back(netConfig(n, action.tap));
        out.hostActions.push_back(action);
    }
    c["net"] = nets;

    if (def.rng)
        c["rng"] = Json{{"src", def.rng->backend}};
    if (def.vsock) {
        unsigned cid = def.vsock->autoCid ? (def.vsock->cid ? def.vsock->cid : paths.autoVsockCid) : def.vsock->cid;
        c["vsock"] = Json{{"cid", cid}, {"socket", paths.vmmDir(def) + "/vsock.sock"}};
    }
    if (def.balloon.present)
        c["balloon"] = Json{{"size", memoryBytes - def.currentMemoryKiB * 1024},
                            {"free_page_reporting", def.balloon.freePageReporting},
                            {"deflate_on_oom", def.balloon.autodeflate.value_or(false)}};
    // Each device's id and slot, from the walk that also reads the placement back.
    for (const auto& device : pciDevices(def)) {
        Json& j = device.index ? c[device.configKey][*device.index] : c[device.configKey];
        j["id"] = device.id;
        j["pci_slot"] = *device.address ? Json((*device.address)->slot) : Json(nullptr);
    }
    return out;
}

}  // namespace mica::conf
