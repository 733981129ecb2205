#include "VmConfigJson.h"

#include <set>

#include "ValidateConfig.h"
#include "i18n.h"

namespace mica {

namespace {

using json = nlohmann::json;

// One JSON object being read: every field taken is remembered, so what is left over
// at the end is an unknown field.
class ObjectReader {
public:
    ObjectReader(const json& value, std::string path) : value_(value), path_(std::move(path))
    {
        if (!value.is_object())
            throw ConfigError(where() + _("expected an object"));
    }

    const json* find(const std::string& key)
    {
        taken_.insert(key);
        auto it = value_.find(key);
        return it == value_.end() || it->is_null() ? nullptr : &*it;
    }
    std::string child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

    template <typename T>
    void optionalUnsigned(const std::string& key, T& out)
    {
        if (const json* v = find(key)) {
            if (!v->is_number_unsigned() || v->get<uint64_t>() > std::numeric_limits<T>::max())
                throw ConfigError(child(key) + ": " + _("expected an unsigned integer"));
            out = static_cast<T>(v->get<uint64_t>());
        }
    }
    template <typename T>
    void optionalUnsigned(const std::string& key, std::optional<T>& out)
    {
        if (find(key)) {
            T value{};
            optionalUnsigned(key, value);
            out = value;
        }
    }
    void optionalBool(const std::string& key, bool& out)
    {
        if (const json* v = find(key)) {
            if (!v->is_boolean())
                throw ConfigError(child(key) + ": " + _("expected true or false"));
            out = v->get<bool>();
        }
    }
    void optionalString(const std::string& key, std::string& out)
    {
        if (const json* v = find(key)) {
            if (!v->is_string())
                throw ConfigError(child(key) + ": " + _("expected a string"));
            out = v->get<std::string>();
        }
    }
    void requiredString(const std::string& key, std::string& out)
    {
        if (!value_.contains(key) || value_[key].is_null())
            throw ConfigError(child(key) + ": " + _("required"));
        optionalString(key, out);
        if (out.empty())
            throw ConfigError(child(key) + ": " + _("must not be empty"));
    }
    // Call last: refuses whatever was not read.
    void finish() const
    {
        for (const auto& item : value_.items())
            if (!taken_.count(item.key()))
                throw ConfigError(_("unknown field '") + child(item.key()) + "'");
    }

private:
    std::string where() const { return path_.empty() ? std::string() : path_ + ": "; }
    const json& value_;
    std::string path_;
    std::set<std::string> taken_;
};

// Every PCI device's object carries these two.
void readIdentity(ObjectReader& r, PciDeviceConfig& device)
{
    r.optionalString("id", device.id);
    r.optionalUnsigned("pci_slot", device.pciSlot);
}

void writeIdentity(json& out, const PciDeviceConfig& device)
{
    out["id"] = device.id;
    out["pci_slot"] = device.pciSlot ? json(*device.pciSlot) : json(nullptr);
}

// A device that is there or not (rng, vsock, balloon): its object's presence enables
// it; `read` takes the fields of its own beside the id and slot.
template <typename Config, typename F>
void readOptionalDevice(ObjectReader& root, const std::string& key, Config& device, F&& read)
{
    const json* v = root.find(key);
    if (!v)
        return;
    ObjectReader r(*v, key);
    device.enabled = true;
    readIdentity(r, device);
    read(r);
    r.finish();
}

// The console's object is a backend and a PCI device at once: `identity` reads its id
// and slot too.
CharBackendConfig readCharBackend(ObjectReader& parent, const std::string& key, CharBackendConfig fallback,
                                  PciDeviceConfig* identity = nullptr)
{
    const json* v = parent.find(key);
    if (!v)
        return fallback;
    ObjectReader r(*v, parent.child(key));
    std::string mode, path;
    r.requiredString("mode", mode);
    r.optionalString("path", path);
    if (identity)
        readIdentity(r, *identity);
    r.finish();
    using Kind = CharBackendConfig::Kind;
    static const std::map<std::string, Kind> kinds{
        {"off", Kind::Off}, {"tty", Kind::Tty}, {"pty", Kind::Pty}, {"file", Kind::File}, {"socket", Kind::Socket}};
    auto it = kinds.find(mode);
    if (it == kinds.end())
        throw ConfigError(r.child("mode") + ": " + _("expected off, tty, pty, file or socket"));
    bool needsPath = it->second == Kind::File || it->second == Kind::Socket;
    if (needsPath == path.empty())
        throw ConfigError(r.child("path") + ": " + (needsPath ? _("required for this mode") : _("not allowed for this mode")));
    return {it->second, path};
}

// Reads a JSON array of objects, handing each to `read` with its path ("disks[1]").
template <typename F>
void readArray(ObjectReader& parent, const std::string& key, F&& read)
{
    const json* v = parent.find(key);
    if (!v)
        return;
    if (!v->is_array())
        throw ConfigError(parent.child(key) + ": " + _("expected an array"));
    for (size_t i = 0; i < v->size(); ++i) {
        ObjectReader item((*v)[i], parent.child(key) + "[" + std::to_string(i) + "]");
        read(item);
        item.finish();
    }
}

DiskConfig readDisk(ObjectReader& r)
{
    DiskConfig d;
    readIdentity(r, d);
    r.requiredString("path", d.path);
    std::string type;
    r.optionalString("image_type", type);
    if (!type.empty()) {
        auto parsed = block::imageTypeFromName(type);
        if (!parsed)
            throw ConfigError(r.child("image_type") + ": " + _("expected raw, qcow2, vhd or vhdx"));
        d.imageType = *parsed;
    }
    r.optionalBool("readonly", d.readOnly);
    r.optionalBool("shared", d.shared);
    r.optionalBool("direct", d.direct);
    r.optionalUnsigned("num_queues", d.numQueues);
    r.optionalString("serial", d.serial);
    r.optionalBool("discard", d.discard);
    if (const json* v = r.find("iotune"))
        d.iotune = ioLimitsFromJson(*v, r.child("iotune"));
    std::string engine;
    r.optionalString("io_engine", engine);
    if (!engine.empty()) {
        auto parsed = block::ioEngineFromName(engine);
        if (!parsed)
            throw ConfigError(r.child("io_engine") + ": " + _("expected auto, io_uring or threads"));
        d.ioEngine = *parsed;
    }
    return d;
}

NetConfig readNet(ObjectReader& r)
{
    NetConfig n;
    readIdentity(r, n);
    // One of the two; which one is validateConfig()'s rule, so it reads both.
    if (const json* fds = r.find("fds")) {
        if (!fds->is_array())
            throw ConfigError(r.child("fds") + ": " + _("expected an array of fd indexes"));
        for (size_t i = 0; i < fds->size(); ++i) {
            const json& index = (*fds)[i];
            if (!index.is_number_unsigned() || index.get<uint64_t>() > 0xffff)
                throw ConfigError(r.child("fds") + "[" + std::to_string(i) + "]: " + _("expected an fd index (0, 1, ...)"));
            n.fds.push_back(index.get<unsigned>());
        }
    }
    r.optionalString("tap", n.tap);
    r.optionalString("mac", n.mac);
    r.optionalUnsigned("num_queues", n.numQueues);
    r.optionalUnsigned("mtu", n.mtu);
    return n;
}

}  // namespace

IoLimits ioLimitsFromJson(const json& value, const std::string& path)
{
    IoLimits limits;
    ObjectReader r(value, path);
    for (const auto& field : kIoLimitFields)
        r.optionalUnsigned(field.name, fieldOf(limits, field));
    r.finish();
    return limits;
}

json ioLimitsToJson(const IoLimits& limits)
{
    json out = json::object();
    for (const auto& field : kIoLimitFields)
        if (uint64_t v = fieldOf(limits, field))
            out[field.name] = v;
    return out;
}

namespace {

json charBackendToJson(const CharBackendConfig& c)
{
    static const char* const names[] = {"off", "tty", "file", "pty", "socket"};
    json out = {{"mode", names[static_cast<int>(c.kind)]}};
    out["path"] = c.path.empty() ? json(nullptr) : json(c.path);
    return out;
}

}  // namespace

DiskConfig diskConfigFromJson(const json& value)
{
    ObjectReader r(value, "");
    DiskConfig disk = readDisk(r);
    r.finish();
    return disk;
}

NetConfig netConfigFromJson(const json& value)
{
    ObjectReader r(value, "");
    NetConfig net = readNet(r);
    r.finish();
    return net;
}

VmConfig vmConfigFromJson(const json& value, std::vector<UniqueFd> fds, const HostLimits& limits)
{
    VmConfig config;
    for (auto& fd : fds)
        config.handedFds.push_back(std::make_shared<const UniqueFd>(std::move(fd)));
    ObjectReader root(value, "");

    const json* payload = root.find("payload");
    if (!payload)
        throw ConfigError(std::string("payload: ") + _("required"));
    ObjectReader p(*payload, "payload");
    p.requiredString("kernel", config.payload.kernel);
    p.optionalString("initramfs", config.payload.initramfs);
    p.optionalString("cmdline", config.payload.cmdline);
    p.finish();

    if (const json* cpus = root.find("cpus")) {
        ObjectReader c(*cpus, "cpus");
        c.optionalUnsigned("boot_vcpus", config.cpus.boot);
        config.cpus.max = config.cpus.boot;
        c.optionalUnsigned("max_vcpus", config.cpus.max);
        config.cpus.topology = {1, config.cpus.max, 1};
        if (const json* topology = c.find("topology")) {
            ObjectReader t(*topology, "cpus.topology");
            t.optionalUnsigned("sockets", config.cpus.topology.sockets);
            t.optionalUnsigned("cores_per_socket", config.cpus.topology.cores);
            t.optionalUnsigned("threads_per_core", config.cpus.topology.threads);
            t.finish();
        }
        readArray(c, "affinity", [&](ObjectReader& a) {
            std::optional<unsigned> vcpu;
            a.optionalUnsigned("vcpu", vcpu);
            if (!vcpu)
                throw ConfigError(a.child("vcpu") + ": " + _("required"));
            const json* cpus = a.find("host_cpus");
            if (!cpus || !cpus->is_array())
                throw ConfigError(a.child("host_cpus") + ": " + _("expected an array of host CPU numbers"));
            std::vector<unsigned> hostCpus;
            for (const auto& cpu : *cpus) {
                if (!cpu.is_number_unsigned() || cpu.get<uint64_t>() > 0xffff)
                    throw ConfigError(a.child("host_cpus") + ": " + _("expected an array of host CPU numbers"));
                hostCpus.push_back(cpu.get<unsigned>());
            }
            if (!config.cpus.affinity.emplace(*vcpu, std::move(hostCpus)).second)
                throw ConfigError(a.child("vcpu") + ": " + _("vCPU ") + std::to_string(*vcpu) + _(" is named twice"));
        });
        c.finish();
    }

    if (const json* memory = root.find("memory")) {
        ObjectReader m(*memory, "memory");
        m.optionalUnsigned("size", config.memory.size);
        m.optionalBool("hugepages", config.memory.hugePages);
        m.optionalBool("memfd", config.memory.memfd);
        m.optionalBool("shared", config.memory.shared);
        m.finish();
    }

    config.serial = readCharBackend(root, "serial", config.serial);
    config.console.backend = readCharBackend(root, "console", config.console.backend, &config.console);
    config.console.enabled = config.console.backend.kind != CharBackendConfig::Kind::Off;
    readArray(root, "disks", [&](ObjectReader& r) { config.disks.push_back(readDisk(r)); });
    readArray(root, "net", [&](ObjectReader& r) { config.nets.push_back(readNet(r)); });
    readOptionalDevice(root, "rng", config.rng, [&](ObjectReader& r) { r.optionalString("src", config.rng.source); });
    readOptionalDevice(root, "vsock", config.vsock, [&](ObjectReader& r) {
        r.optionalUnsigned("cid", config.vsock.cid);
        r.requiredString("socket", config.vsock.socket);
    });
    readOptionalDevice(root, "balloon", config.balloon, [&](ObjectReader& r) {
        r.optionalUnsigned("size", config.balloon.size);
        r.optionalBool("free_page_reporting", config.balloon.freePageReporting);
        r.optionalBool("deflate_on_oom", config.balloon.deflateOnOom);
    });
    if (const json* files = root.find("handed_files")) {
        if (!files->is_object())
            throw ConfigError(std::string("handed_files: ") + _("expected an object of path: fd index"));
        for (const auto& [path, index] : files->items()) {
            if (!index.is_number_unsigned() || index.get<uint64_t>() > 0xffff)
                throw ConfigError("handed_files[\"" + path + "\"]: " + _("expected an fd index (0, 1, ...)"));
            config.handedFiles[path] = index.get<unsigned>();
        }
    }
    root.finish();
    validateConfig(config, limits);
    // validateConfig() checked every named index; what nothing names closes now.
    std::vector<bool> named(config.handedFds.size());
    for (const auto& n : config.nets)
        for (unsigned index : n.fds)
            named[index] = true;
    for (const auto& [path, index] : config.handedFiles)
        named[index] = true;
    for (size_t i = 0; i < named.size(); ++i)
        if (!named[i])
            config.handedFds[i].reset();
    return config;
}

json vmConfigToJson(const VmConfig& config)
{
    json payload = {{"kernel", config.payload.kernel}};
    if (!config.payload.initramfs.empty())
        payload["initramfs"] = config.payload.initramfs;
    payload["cmdline"] = config.payload.cmdline;
    const auto& t = config.cpus.topology;
    json out = {
        {"payload", payload},
        {"cpus",
         {{"boot_vcpus", config.cpus.boot},
          {"max_vcpus", config.cpus.max},
          {"topology", {{"sockets", t.sockets}, {"cores_per_socket", t.cores}, {"threads_per_core", t.threads}}}}},
        {"memory", {{"size", config.memory.size}, {"hugepages", config.memory.hugePages}, {"memfd", config.memory.memfd}, {"shared", config.memory.shared}}},
        {"serial", charBackendToJson(config.serial)},
    };
    if (!config.cpus.affinity.empty()) {
        json affinity = json::array();
        for (const auto& [vcpu, hostCpus] : config.cpus.affinity)
            affinity.push_back({{"vcpu", vcpu}, {"host_cpus", hostCpus}});
        out["cpus"]["affinity"] = affinity;
    }
    out["console"] = charBackendToJson(config.console.enabled ? config.console.backend
                                                        : CharBackendConfig{CharBackendConfig::Kind::Off, {}});
    if (config.console.enabled)
        writeIdentity(out["console"], config.console);
    out["disks"] = json::array();
    for (const auto& d : config.disks) {
        json disk = {{"path", d.path}, {"image_type", block::imageTypeName(d.imageType)}, {"readonly", d.readOnly}, {"shared", d.shared}, {"direct", d.direct},
                     {"num_queues", d.numQueues}, {"discard", d.discard}};
        if (!d.serial.empty())
            disk["serial"] = d.serial;
        if (d.iotune != IoLimits{})
            disk["iotune"] = ioLimitsToJson(d.iotune);
        // Only when asked: what a client sent comes back as it was (auto is the default).
        if (d.ioEngine != block::IoEngineKind::Auto)
            disk["io_engine"] = block::ioEngineName(d.ioEngine);
        writeIdentity(disk, d);
        out["disks"].push_back(disk);
    }
    out["net"] = json::array();
    for (const auto& n : config.nets) {
        json net = {{"mac", n.mac}, {"num_queues", n.numQueues}};
        if (n.fds.empty())
            net["tap"] = n.tap;
        else
            net["fds"] = n.fds;
        if (n.mtu)
            net["mtu"] = n.mtu;
        writeIdentity(net, n);
        out["net"].push_back(net);
    }
    if (config.rng.enabled) {
        out["rng"] = {{"src", config.rng.source}};
        writeIdentity(out["rng"], config.rng);
    }
    if (config.vsock.enabled) {
        out["vsock"] = {{"cid", config.vsock.cid}, {"socket", config.vsock.socket}};
        writeIdentity(out["vsock"], config.vsock);
    }
    if (config.balloon.enabled) {
        out["balloon"] = {{"size", config.balloon.size},
                          {"free_page_reporting", config.balloon.freePageReporting},
                          {"deflate_on_oom", config.balloon.deflateOnOom}};
        writeIdentity(out["balloon"], config.balloon);
    }
    if (!config.handedFiles.empty())
        out["handed_files"] = config.handedFiles;
    return out;
}

}  // namespace mica
