#include "HostLimits.h"

#include <cpuid.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "Kvm.h"
#include "Layout.h"
#include "Server.h"
#include "i18n.h"

namespace mica {

namespace {

// What a VM's parts hold open, counted from what they create (an upper bound, so a
// configuration that passes does not run out of fds while it is built).
constexpr uint64_t kProcessFds = 64;     // stdio, KVM and the VM, signalfd, the devices loop, event monitor, serial, console, libraries
constexpr uint64_t kFdsPerVcpu = 2;      // the vCPU and its statistics
constexpr uint64_t kFdsPerQueue = 2;     // a doorbell (ioeventfd) and an interrupt (irqfd)
constexpr uint64_t kFdsPerDevice = 5;    // the config vector's irqfd; an I/O thread's epoll, wake-up and timer; the backend file

// The API's own share: the connections it holds and the fds they may carry.
uint64_t apiFds()
{
    http::ServerOptions api;
    return static_cast<uint64_t>(api.maxConnections) + api.maxHeldFds + 1;   // + the listener
}

uint64_t deviceFds(uint64_t queues)
{
    return kFdsPerDevice + kFdsPerQueue * queues;
}

// Where RAM ends in guest-physical memory: past 3 GiB it moves above 4 GiB.
uint64_t guestRamTop(uint64_t size)
{
    return size <= x86::kMmioHoleStart ? size : size - x86::kMmioHoleStart + x86::kRamAbove4g;
}

// x86-64 user space with 4-level paging (a 5-level kernel also maps below this unless
// asked for more).
constexpr uint64_t kUserAddressSpace = uint64_t{1} << 47;

std::string mib(uint64_t bytes)
{
    return bytes % (1 << 20) ? std::to_string(bytes) + " bytes" : std::to_string(bytes >> 20) + " MiB";
}

// One limit: the field it bounds, what the configuration needs, what the host has, and
// how to say it.
struct Rule {
    const char* field;
    std::function<bool(const VmConfig&)> applies;
    std::function<uint64_t(const VmConfig&)> need;
    std::function<uint64_t(const HostLimits&)> have;
    std::function<std::string(uint64_t need, uint64_t have, const HostLimits&)> say;
};

const Rule kRules[] = {
    {"cpus.boot_vcpus", [](const VmConfig&) { return true; }, [](const VmConfig& c) -> uint64_t { return c.cpus.boot; },
     [](const HostLimits& h) -> uint64_t { return h.maxVcpus; },
     [](uint64_t need, uint64_t have, const HostLimits& h) {
         return std::to_string(need) + _(" vCPUs, but a VM here has at most ") + std::to_string(have) + ": " +
                h.maxVcpusFrom;
     }},
    {"cpus.max_vcpus", [](const VmConfig&) { return true; }, [](const VmConfig& c) -> uint64_t { return c.cpus.max; },
     [](const HostLimits& h) -> uint64_t { return h.maxVcpus; },
     [](uint64_t need, uint64_t have, const HostLimits& h) {
         return std::to_string(need) + _(" vCPUs, but a VM here has at most ") + std::to_string(have) + ": " +
                h.maxVcpusFrom;
     }},
    {"memory.size", [](const VmConfig&) { return true; }, [](const VmConfig& c) { return c.memory.size; },
     [](const HostLimits& h) { return h.memoryBytes; },
     [](uint64_t need, uint64_t have, const HostLimits& h) {
         return mib(need) + _(" of RAM, but this process can map at most ") + mib(have) + " (" + h.memoryFrom + ")";
     }},
    // memory.size is below the address space by now: the sum does not overflow.
    {"memory.size", [](const VmConfig&) { return true; },
     [](const VmConfig& c) { return guestRamTop(c.memory.size); },
     [](const HostLimits& h) { return h.physAddressBits >= 64 ? UINT64_MAX : uint64_t{1} << h.physAddressBits; },
     [](uint64_t need, uint64_t, const HostLimits& h) {
         return _("RAM (moved above 4 GiB past 3 GiB) ends at ") + mib(need) +
                _(" of guest-physical memory, but this host's CPU addresses ") + std::to_string(h.physAddressBits) +
                _(" bits");
     }},
    {"devices", [](const VmConfig&) { return true; }, [](const VmConfig& c) { return fdsNeeded(c); },
     [](const HostLimits& h) { return h.openFiles; },
     [](uint64_t need, uint64_t have, const HostLimits&) {
         return _("this configuration (its vCPUs, queues, TAPs and files, and the API's connections) holds up to ") +
                std::to_string(need) + _(" fds, but RLIMIT_NOFILE is ") + std::to_string(have) +
                _(": fewer queues or devices, or a higher limit");
     }},
};

uint64_t meminfoKib(const std::string& text, const std::string& key)
{
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(key + ":"))
            return std::stoull(line.substr(key.size() + 1));
    return 0;
}

}  // namespace

uint64_t fdsNeeded(const VmConfig& c)
{
    uint64_t n = kProcessFds + apiFds() + kFdsPerVcpu * c.cpus.max;
    for (const auto& disk : c.disks)
        n += deviceFds(disk.numQueues);
    for (const auto& net : c.nets)
        n += deviceFds(net.numQueues + 1) + (net.fds.empty() ? net.numQueues / 2 : 0);   // + control queue; TAPs it opens
    if (c.console.enabled)
        n += deviceFds(4);
    if (c.rng.enabled)
        n += deviceFds(1);
    if (c.vsock.enabled)
        n += deviceFds(3);
    if (c.balloon.enabled)
        n += deviceFds(5);
    for (const auto& fd : c.handedFds)
        n += fd ? 1 : 0;
    return n;
}

void checkHostLimits(const VmConfig& c, const HostLimits& limits)
{
    for (const Rule& rule : kRules) {
        if (!rule.applies(c))
            continue;
        uint64_t need = rule.need(c), have = rule.have(limits);
        if (need > have)
            throw ConfigError(std::string(rule.field) + ": " + rule.say(need, have, limits));
    }
}

HostLimits probeHostLimits()
{
    HostLimits h;
    try {
        kvm::Kvm kvm;
        h.maxVcpus = kvm.maxVcpus();
        h.maxVcpusFrom = "KVM_CAP_MAX_VCPUS";
    } catch (const std::exception&) {
        // No /dev/kvm here (a build machine, or a confined VMM that gets it with
        // vm.create, where the VM's build checks KVM's own answer): the largest x86 KVM.
        h.maxVcpus = kKvmMaxVcpusFallback;
        h.maxVcpusFrom = "KVM_MAX_VCPUS of Linux x86, with no /dev/kvm to ask";
    }
    if (h.maxVcpus > kVmmMaxVcpus) {
        h.maxVcpusFrom = _("this VMM's limit, for xAPIC ids; KVM allows ") + std::to_string(h.maxVcpus) + " (" +
                         h.maxVcpusFrom + ")";
        h.maxVcpus = kVmmMaxVcpus;
    }
    // Guest RAM is mapped MAP_NORESERVE and taken page by page as the guest touches it,
    // so a VM may have more RAM than the host (tests boot 5 GiB guests on 2 GiB hosts):
    // what bounds it is this process's address space, unless the host forbids
    // overcommitting (vm.overcommit_memory=2, which ignores MAP_NORESERVE).
    h.memoryBytes = kUserAddressSpace;
    h.memoryFrom = _("a process's address space on x86-64 with 4-level paging");
    std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
    int mode = 0;
    if (overcommit >> mode && mode == 2) {
        std::ifstream meminfo("/proc/meminfo");
        std::stringstream text;
        text << meminfo.rdbuf();
        h.memoryBytes = meminfoKib(text.str(), "CommitLimit") * 1024;
        h.memoryFrom = _("the host's CommitLimit: vm.overcommit_memory is 2");
    }
    rlimit rl{};
    if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < h.memoryBytes) {
        h.memoryBytes = rl.rlim_cur;
        h.memoryFrom = "RLIMIT_AS";
    }
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) && eax >= 0x80000008 &&
        __get_cpuid(0x80000008, &eax, &ebx, &ecx, &edx))
        h.physAddressBits = eax & 0xff;
    else
        h.physAddressBits = 36;   // what a CPU without the leaf addresses
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        h.openFiles = rl.rlim_cur;
    return h;
}

const HostLimits& thisHost()
{
    static const HostLimits limits = probeHostLimits();
    return limits;
}

}  // namespace mica
