#include "ValidateConfig.h"

#include <sched.h>

#include <array>
#include <cstdio>
#include <functional>
#include <set>

#include "i18n.h"

namespace mica {

namespace {

constexpr unsigned kFirstSlot = 1;   // slot 0 is the host bridge
constexpr unsigned kLastSlot = 31;   // bus 0 has 32 slots
constexpr size_t kMaxIdLength = 64;

[[noreturn]] void refuse(const std::string& field, const std::string& why)
{
    throw ConfigError(field + ": " + why);
}

// "vda" .. "vdz", "vdaa" ..: the names Linux gives virtio disks in order.
std::string diskName(size_t index)
{
    std::string suffix;
    for (size_t i = index + 1; i > 0; i = (i - 1) / 26)
        suffix.insert(suffix.begin(), static_cast<char>('a' + (i - 1) % 26));
    return "vd" + suffix;
}

// One PCI device as validateConfig() walks them: its place in the JSON, its identity,
// and the id it gets when none is given (by the n-th try, so a given id never clashes).
struct DeviceRef {
    std::string field;
    PciDeviceConfig* device;
    std::function<std::string(size_t)> defaultId;
};

std::vector<DeviceRef> pciDevices(VmConfig& c)
{
    std::vector<DeviceRef> out;
    for (size_t i = 0; i < c.disks.size(); ++i)
        out.push_back({"disks[" + std::to_string(i) + "]", &c.disks[i], [i](size_t n) { return diskName(i + n); }});
    for (size_t i = 0; i < c.nets.size(); ++i)
        out.push_back({"net[" + std::to_string(i) + "]", &c.nets[i], [i](size_t n) { return "net" + std::to_string(i + n); }});
    auto single = [&](bool enabled, const char* field, PciDeviceConfig& device, const char* prefix) {
        if (enabled)
            out.push_back({field, &device, [prefix](size_t n) { return prefix + std::to_string(n); }});
    };
    single(c.console.enabled, "console", c.console, "console");
    single(c.rng.enabled, "rng", c.rng, "rng");
    single(c.vsock.enabled, "vsock", c.vsock, "vsock");
    single(c.balloon.enabled, "balloon", c.balloon, "balloon");
    return out;
}

bool validId(const std::string& id)
{
    if (id.empty() || id.size() > kMaxIdLength)
        return false;
    for (unsigned char ch : id)
        if (!std::isalnum(ch) && ch != '_' && ch != '-' && ch != '.')
            return false;
    return true;
}

// Given ids and slots first (they must be unique and fit), then the rest in list order:
// the first free id of the device's pattern, the lowest free slot.
void resolveDevices(VmConfig& c)
{
    auto devices = pciDevices(c);
    if (devices.size() > kLastSlot - kFirstSlot + 1)
        refuse("devices", std::to_string(devices.size()) + _(" PCI devices do not fit the 31 slots of bus 0"));
    std::set<std::string> ids;
    std::array<bool, kLastSlot + 1> taken{};
    for (const auto& d : devices) {
        if (!d.device->id.empty()) {
            if (!validId(d.device->id))
                refuse(d.field + ".id", _("1 to 64 letters, digits, '_', '-' or '.'"));
            if (!ids.insert(d.device->id).second)
                refuse(d.field + ".id", _("another device already has id '") + d.device->id + "'");
        }
        if (auto slot = d.device->pciSlot) {
            if (*slot < kFirstSlot || *slot > kLastSlot)
                refuse(d.field + ".pci_slot", _("must be between 1 and 31 (slot 0 is the host bridge)"));
            if (taken[*slot])
                refuse(d.field + ".pci_slot", _("slot ") + std::to_string(*slot) + _(" is taken by another device"));
            taken[*slot] = true;
        }
    }
    unsigned next = kFirstSlot;
    for (auto& d : devices) {
        for (size_t n = 0; d.device->id.empty(); ++n)
            if (auto id = d.defaultId(n); !ids.count(id))
                d.device->id = *ids.insert(id).first;
        if (!d.device->pciSlot) {
            while (taken[next])
                ++next;
            taken[next] = true;
            d.device->pciSlot = next;
        }
    }
}

void checkCpus(const CpusConfig& cpus)
{
    if (cpus.boot == 0)
        refuse("cpus.boot_vcpus", _("must be at least 1"));
    if (cpus.max < cpus.boot)
        refuse("cpus.max_vcpus", _("must not be less than boot_vcpus"));
    const auto& t = cpus.topology;
    if (t.sockets == 0 || t.cores == 0 || t.threads == 0 || uint64_t{t.sockets} * t.cores * t.threads != cpus.max)
        refuse("cpus.topology", _("sockets x cores x threads must equal max_vcpus"));
    for (const auto& [vcpu, hostCpus] : cpus.affinity) {
        std::string field = "cpus.affinity[vcpu " + std::to_string(vcpu) + "]";
        if (vcpu >= cpus.max)
            refuse(field, _("no such vCPU: max_vcpus is ") + std::to_string(cpus.max));
        if (hostCpus.empty())
            refuse(field + ".host_cpus", _("must name at least one host CPU"));
        for (unsigned cpu : hostCpus)
            if (cpu >= CPU_SETSIZE)
                refuse(field + ".host_cpus", _("host CPU ") + std::to_string(cpu) + _(" is past the largest this VMM can name"));
    }
}

void checkDisk(const DiskConfig& d, const std::string& field)
{
    if (d.path.empty())
        refuse(field + ".path", _("required"));
    if (d.numQueues == 0 || d.numQueues > 64)
        refuse(field + ".num_queues", _("must be between 1 and 64"));
    if (d.serial.size() > 20)
        refuse(field + ".serial", _("at most 20 characters"));
    if (auto problem = ioLimitsProblem(d.iotune); !problem.empty())
        refuse(field + ".iotune", problem);
    if (d.ioEngine == block::IoEngineKind::IoUring) {
        if (d.imageType != block::ImageType::Raw)
            refuse(field + ".io_engine", _("io_uring serves raw images only (image_type raw)"));
        if (!block::ioUringRefusal().empty())
            refuse(field + ".io_engine", _("this host's kernel gives no io_uring: ") + block::ioUringRefusal());
    }
}

// Every handed fd serves one queue pair or one file.
void checkFdIndex(unsigned index, const std::string& where, const VmConfig& c, std::set<unsigned>& usedFds)
{
    if (index >= c.handedFds.size())
        refuse(where, _("fd index ") + std::to_string(index) + _(", but ") + std::to_string(c.handedFds.size()) +
                          _(" fds came with the request (SCM_RIGHTS on the API socket)"));
    if (!c.handedFds[index])
        refuse(where, _("fd index ") + std::to_string(index) + _(" was not kept with this configuration"));
    if (!usedFds.insert(index).second)
        refuse(where, _("fd index ") + std::to_string(index) + _(" is named twice; every queue pair and file needs its own fd"));
}

void checkNet(const NetConfig& n, const std::string& field, const VmConfig& c, std::set<unsigned>& usedFds)
{
    if (n.tap.empty() == n.fds.empty())
        refuse(field, _("give exactly one of \"tap\" (a TAP name) and \"fds\" (its open queues)"));
    for (size_t i = 0; i < n.fds.size(); ++i)
        checkFdIndex(n.fds[i], field + ".fds[" + std::to_string(i) + "]", c, usedFds);
    if (n.tap.size() > 15)
        refuse(field + ".tap", _("TAP names are 1 to 15 characters"));
    if (!n.mac.empty() && !isMacAddress(n.mac))
        refuse(field + ".mac", _("expected a MAC address such as 52:54:00:12:34:56"));
    if (n.numQueues < 2 || n.numQueues % 2 || n.numQueues > 32)
        refuse(field + ".num_queues", _("must be even, from 2 to 32"));
    if (!n.fds.empty() && n.fds.size() != n.numQueues / 2)
        refuse(field + ".fds", std::to_string(n.fds.size()) + _(" fds for ") + std::to_string(n.numQueues / 2) +
                                   _(" queue pairs (num_queues ") + std::to_string(n.numQueues) +
                                   _("): give one fd per queue pair"));
    if (n.mtu && (n.mtu < 68 || n.mtu > 65535))
        refuse(field + ".mtu", _("must be between 68 and 65535"));
}

}  // namespace

std::string pciBdf(unsigned slot)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0000:00:%02x.0", slot & 0x1f);
    return buf;
}

void validateConfig(VmConfig& c, const HostLimits& limits)
{
    if (c.payload.kernel.empty())
        refuse("payload.kernel", _("required"));
    checkCpus(c.cpus);
    if (c.memory.size < (16ull << 20) || c.memory.size % 4096)
        refuse("memory.size", _("must be a multiple of 4096 and at least 16 MiB"));
    // Two tty backends would both read this process's stdin.
    if (c.console.enabled && c.console.backend.kind == CharBackendConfig::Kind::Tty &&
        c.serial.kind == CharBackendConfig::Kind::Tty)
        refuse("console", _("the serial port has the terminal already; give the serial port another backend"));
    for (size_t i = 0; i < c.disks.size(); ++i)
        checkDisk(c.disks[i], "disks[" + std::to_string(i) + "]");
    std::set<unsigned> usedFds;
    for (size_t i = 0; i < c.nets.size(); ++i)
        checkNet(c.nets[i], "net[" + std::to_string(i) + "]", c, usedFds);
    for (const auto& [path, index] : c.handedFiles)
        checkFdIndex(index, "handed_files[\"" + path + "\"]", c, usedFds);
    if (c.rng.enabled && c.rng.source.empty())
        refuse("rng.src", _("must not be empty"));
    if (c.vsock.enabled) {
        if (c.vsock.cid < 3 || c.vsock.cid >= 0xffffffffull)
            refuse("vsock.cid", _("must be at least 3 (0-2 are reserved) and below 2^32 - 1"));
        if (c.vsock.socket.empty())
            refuse("vsock.socket", _("required"));
    }
    if (c.balloon.enabled && c.balloon.size > c.memory.size)
        refuse("balloon.size", _("larger than the memory"));
    resolveDevices(c);
    checkHostLimits(c, limits);
}

}  // namespace mica
