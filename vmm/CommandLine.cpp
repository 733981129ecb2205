#include "CommandLine.h"

#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include "Error.h"
#include "ValidateConfig.h"
#include "i18n.h"

namespace mica {

const char* const kUsage =
    "usage: mica-vmm --kernel PATH [--initramfs PATH] [--cmdline STRING]\n"
    "                [--cpus boot=N[,max=M][,topology=S:C:T]] [--memory size=SIZE[,hugepages=on][,memfd=on][,shared=on]]\n"
    "                [--serial tty|off|pty|file=PATH|socket=PATH] [--on-reboot restart|exit]\n"
    "                [--api-socket PATH|fd=N] [--api-timeout SECONDS] [--event-monitor path=PATH|fd=N] [--seccomp true|false|log]\n"
    "                [--stats-on-exit]\n"
    "                [--disk path=PATH[,image_type=T][,readonly=on][,shared=on][,direct=on][,num_queues=N][,serial=S]\n"
    "                        [,io_engine=auto|io_uring|threads][,DEV]]...\n"
    "                [--net tap=NAME|fd=N[,mac=MAC][,num_queues=N][,DEV]]...\n"
    "                [--console tty|off|pty|file=PATH|socket=PATH] [--rng [src=PATH][,DEV]]\n"
    "                [--vsock cid=N,socket=PATH[,DEV]] [--balloon [size=SIZE][,free_page_reporting=on][,deflate_on_oom=on][,DEV]]\n"
    "                (DEV: id=ID,pci_slot=N, both optional: the device's name and its slot on PCI bus 0)\n"
    "       mica-vmm --api-socket PATH [...]   (no --kernel: wait for vm.create)\n"
    "       mica-vmm --restore source_url=file:///DIR[,memory_restore_mode=copy|ondemand] [--serial ...] [--api-socket ...] [--event-monitor ...]\n"
    "       mica-vmm --version | --features | --help\n";

namespace {

template <typename T = unsigned>
T parseUnsigned(const std::string& value, const std::string& what)
{
    T result = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), result);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty())
        throw UsageError(what + ": " + _("expected a number, got '") + value + "'");
    return result;
}

bool parseOnOff(const std::string& value, const std::string& what)
{
    if (value == "on" || value == "true")
        return true;
    if (value == "off" || value == "false")
        return false;
    throw UsageError(what + ": " + _("expected on or off, got '") + value + "'");
}

// "a=1,b=2" -> {a: 1, b: 2}; keys outside `allowed` and repeated keys are errors.
std::map<std::string, std::string> parseKeyValues(const std::string& value, const std::string& option,
                                                  const std::set<std::string>& allowed)
{
    std::map<std::string, std::string> result;
    size_t start = 0;
    while (start <= value.size()) {
        size_t comma = value.find(',', start);
        std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t eq = item.find('=');
        std::string key = item.substr(0, eq);
        if (eq == std::string::npos || !allowed.count(key))
            throw UsageError(option + ": " + _("unknown parameter '") + item + "'");
        if (!result.emplace(key, item.substr(eq + 1)).second)
            throw UsageError(option + ": " + _("parameter given twice: ") + key);
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return result;
}

void parseCpus(const std::string& value, CpusConfig& cpus)
{
    auto kv = parseKeyValues(value, "--cpus", {"boot", "max", "topology"});
    if (kv.count("boot"))
        cpus.boot = parseUnsigned(kv["boot"], "--cpus boot");
    cpus.max = kv.count("max") ? parseUnsigned(kv["max"], "--cpus max") : cpus.boot;
    if (kv.count("topology")) {
        const std::string& t = kv["topology"];
        size_t a = t.find(':'), b = a == std::string::npos ? a : t.find(':', a + 1);
        if (b == std::string::npos)
            throw UsageError(std::string("--cpus topology: ") + _("expected SOCKETS:CORES:THREADS, got '") + t + "'");
        cpus.topology.sockets = parseUnsigned(t.substr(0, a), "--cpus topology sockets");
        cpus.topology.cores = parseUnsigned(t.substr(a + 1, b - a - 1), "--cpus topology cores");
        cpus.topology.threads = parseUnsigned(t.substr(b + 1), "--cpus topology threads");
    } else {
        cpus.topology = {1, cpus.max, 1};
    }
}

void parseMemory(const std::string& value, MemoryConfig& memory)
{
    auto kv = parseKeyValues(value, "--memory", {"size", "hugepages", "memfd", "shared"});
    if (kv.count("size"))
        memory.size = parseSize(kv["size"], "--memory size");
    if (kv.count("hugepages"))
        memory.hugePages = parseOnOff(kv["hugepages"], "--memory hugepages");
    if (kv.count("memfd"))
        memory.memfd = parseOnOff(kv["memfd"], "--memory memfd");
    if (kv.count("shared"))
        memory.shared = parseOnOff(kv["shared"], "--memory shared");
}

// id= and pci_slot=, which every PCI device's option takes.
void parseIdentity(std::map<std::string, std::string>& kv, const std::string& option, PciDeviceConfig& device)
{
    if (kv.count("id"))
        device.id = kv["id"];
    if (kv.count("pci_slot"))
        device.pciSlot = parseUnsigned(kv["pci_slot"], option + " pci_slot");
}

DiskConfig parseDisk(const std::string& value)
{
    std::set<std::string> keys{"path", "image_type", "readonly", "shared", "direct", "num_queues", "serial", "io_engine",
                               "id", "pci_slot"};
    for (const auto& field : kIoLimitFields)
        keys.insert(field.name);
    auto kv = parseKeyValues(value, "--disk", keys);
    DiskConfig disk;
    if (!kv.count("path") || kv["path"].empty())
        throw UsageError(std::string("--disk: ") + _("path=PATH is required"));
    disk.path = kv["path"];
    parseIdentity(kv, "--disk", disk);
    if (kv.count("image_type")) {
        auto type = block::imageTypeFromName(kv["image_type"]);
        if (!type)
            throw UsageError(std::string("--disk image_type: ") + _("expected raw, qcow2, vhd or vhdx"));
        disk.imageType = *type;
    }
    if (kv.count("readonly"))
        disk.readOnly = parseOnOff(kv["readonly"], "--disk readonly");
    if (kv.count("shared"))
        disk.shared = parseOnOff(kv["shared"], "--disk shared");
    if (kv.count("direct"))
        disk.direct = parseOnOff(kv["direct"], "--disk direct");
    if (kv.count("num_queues"))
        disk.numQueues = parseUnsigned(kv["num_queues"], "--disk num_queues");
    if (kv.count("serial"))
        disk.serial = kv["serial"];
    for (const auto& field : kIoLimitFields)
        if (kv.count(field.name))
            fieldOf(disk.iotune, field) = parseUnsigned<uint64_t>(kv[field.name], std::string("--disk ") + field.name);
    if (kv.count("io_engine")) {
        auto engine = block::ioEngineFromName(kv["io_engine"]);
        if (!engine)
            throw UsageError(std::string("--disk io_engine: ") + _("expected auto, io_uring or threads"));
        disk.ioEngine = *engine;
    }
    return disk;
}

// fd=N hands the inherited fd N to the config (VmConfig::handedFds), as vm.create's
// SCM_RIGHTS fds are.
NetConfig parseNet(const std::string& value, VmConfig& config)
{
    auto kv = parseKeyValues(value, "--net", {"tap", "fd", "mac", "num_queues", "id", "pci_slot"});
    NetConfig net;
    if (kv.count("tap") == kv.count("fd"))
        throw UsageError(std::string("--net: ") + _("give exactly one of tap=NAME and fd=N"));
    if (kv.count("tap")) {
        net.tap = kv["tap"];
        if (net.tap.empty())
            throw UsageError(std::string("--net: ") + _("tap names are 1 to 15 characters"));
    } else {
        int fd = static_cast<int>(parseUnsigned(kv["fd"], "--net fd"));
        for (const auto& handed : config.handedFds)
            if (handed->get() == fd)
                throw UsageError("--net fd=" + std::to_string(fd) + ": " + _("given twice"));
        config.handedFds.push_back(std::make_shared<const UniqueFd>(fd));
        net.fds.push_back(static_cast<unsigned>(config.handedFds.size() - 1));
    }
    if (kv.count("mac"))
        net.mac = kv["mac"];
    if (kv.count("num_queues"))
        net.numQueues = parseUnsigned(kv["num_queues"], "--net num_queues");
    parseIdentity(kv, "--net", net);
    return net;
}

}  // namespace

uint64_t parseSize(const std::string& value, const std::string& what)
{
    std::string digits = value;
    unsigned shift = 0;
    if (!digits.empty()) {
        switch (digits.back()) {
        case 'K': case 'k': shift = 10; break;
        case 'M': case 'm': shift = 20; break;
        case 'G': case 'g': shift = 30; break;
        case 'T': case 't': shift = 40; break;
        default: break;
        }
        if (shift)
            digits.pop_back();
    }
    uint64_t number = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
        (shift && number > (UINT64_MAX >> shift)))
        throw UsageError(what + ": " + _("expected a size such as 512M or 4G, got '") + value + "'");
    return number << shift;
}

CommandLine parseCommandLine(const std::vector<std::string>& args)
{
    CommandLine cl;
    std::set<std::string> seen;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--version") { cl.showVersion = true; continue; }
        if (arg == "--features") { cl.showFeatures = true; continue; }
        if (arg == "--stats-on-exit") { cl.statsOnExit = true; continue; }
        if (arg == "--help" || arg == "-h") { cl.showHelp = true; continue; }
        // Every other option takes a value, as "--opt VALUE" or "--opt=VALUE".
        std::string name = arg, value;
        size_t eq = arg.find('=');
        if (arg.starts_with("--") && eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            throw UsageError(arg + ": " + (arg.starts_with("--") ? _("missing value") : _("unexpected argument")));
        }
        bool repeatable = name == "--disk" || name == "--net";
        if (!seen.insert(name).second && !repeatable)
            throw UsageError(name + ": " + _("given more than once"));
        if (name == "--kernel") cl.config.payload.kernel = value;
        else if (name == "--initramfs") cl.config.payload.initramfs = value;
        else if (name == "--cmdline") cl.config.payload.cmdline = value;
        else if (name == "--cpus") parseCpus(value, cl.config.cpus);
        else if (name == "--memory") parseMemory(value, cl.config.memory);
        else if (name == "--serial") {
            try {
                cl.config.serial = parseCharBackend(value, "--serial");
            } catch (const Error& e) {
                throw UsageError(e.what());
            }
        } else if (name == "--disk") {
            cl.config.disks.push_back(parseDisk(value));
        } else if (name == "--net") {
            cl.config.nets.push_back(parseNet(value, cl.config));
        } else if (name == "--console") {
            try {
                cl.config.console.backend = parseCharBackend(value, "--console");
            } catch (const Error& e) {
                throw UsageError(e.what());
            }
            cl.config.console.enabled = cl.config.console.backend.kind != CharBackendConfig::Kind::Off;
        } else if (name == "--rng") {
            auto kv = parseKeyValues(value, "--rng", {"src", "id", "pci_slot"});
            cl.config.rng.enabled = true;
            if (kv.count("src"))
                cl.config.rng.source = kv["src"];
            parseIdentity(kv, "--rng", cl.config.rng);
        } else if (name == "--vsock") {
            auto kv = parseKeyValues(value, "--vsock", {"cid", "socket", "id", "pci_slot"});
            if (!kv.count("cid") || !kv.count("socket") || kv["socket"].empty())
                throw UsageError(std::string("--vsock: ") + _("cid=N and socket=PATH are required"));
            cl.config.vsock.enabled = true;
            cl.config.vsock.cid = parseUnsigned(kv["cid"], "--vsock cid");
            cl.config.vsock.socket = kv["socket"];
            parseIdentity(kv, "--vsock", cl.config.vsock);
        } else if (name == "--balloon") {
            auto kv = parseKeyValues(value, "--balloon", {"size", "free_page_reporting", "deflate_on_oom", "id", "pci_slot"});
            cl.config.balloon.enabled = true;
            parseIdentity(kv, "--balloon", cl.config.balloon);
            if (kv.count("size"))
                cl.config.balloon.size = parseSize(kv["size"], "--balloon size");
            if (kv.count("free_page_reporting"))
                cl.config.balloon.freePageReporting = parseOnOff(kv["free_page_reporting"], "--balloon free_page_reporting");
            if (kv.count("deflate_on_oom"))
                cl.config.balloon.deflateOnOom = parseOnOff(kv["deflate_on_oom"], "--balloon deflate_on_oom");
        } else if (name == "--on-reboot") {
            if (value == "restart") cl.onReboot = CommandLine::OnReboot::Restart;
            else if (value == "exit") cl.onReboot = CommandLine::OnReboot::Exit;
            else throw UsageError("--on-reboot: " + std::string(_("expected restart or exit, got '")) + value + "'");
        } else if (name == "--restore") {
            auto kv = parseKeyValues(value, "--restore", {"source_url", "memory_restore_mode"});
            if (!kv.count("source_url") || kv["source_url"].empty())
                throw UsageError(std::string("--restore: ") + _("source_url=file:///DIR is required"));
            cl.restoreSource = kv["source_url"];
            if (kv.count("memory_restore_mode")) {
                auto mode = snapshot::memoryRestoreModeFromString(kv["memory_restore_mode"]);
                if (!mode)
                    throw UsageError(std::string("--restore memory_restore_mode: ") + _("expected copy or ondemand, got '") +
                                     kv["memory_restore_mode"] + "'");
                cl.restoreMemoryMode = *mode;
            }
        } else if (name == "--api-socket") {
            cl.apiSocket = value;
        } else if (name == "--api-timeout") {
            // Short for tests; past an hour a stalled client holds a slot for no purpose.
            cl.apiTimeoutSeconds = parseUnsigned(value, "--api-timeout");
            if (cl.apiTimeoutSeconds < 1 || cl.apiTimeoutSeconds > 3600)
                throw UsageError(std::string("--api-timeout: ") + _("expected seconds from 1 to 3600, got '") + value + "'");
        } else if (name == "--x-seccomp-selftest") {  // undocumented: tests prove the filters bite
            cl.seccompSelfTest = value;
        } else if (name == "--event-monitor") {
            cl.eventMonitor = value;
        } else if (name == "--seccomp") {
            if (value == "true") cl.seccomp = CommandLine::Seccomp::On;
            else if (value == "false") cl.seccomp = CommandLine::Seccomp::Off;
            else if (value == "log") cl.seccomp = CommandLine::Seccomp::Log;
            else throw UsageError("--seccomp: " + std::string(_("expected true, false or log, got '")) + value + "'");
        } else {
            throw UsageError(name + ": " + _("unknown option"));
        }
    }
    cl.hasVm = !cl.config.payload.kernel.empty();
    cl.serialGiven = seen.count("--serial") > 0;
    if (!cl.restoreSource.empty()) {
        // The snapshot brings its own VM configuration; only where COM1 goes may change.
        for (const char* option : {"--kernel", "--initramfs", "--cmdline", "--cpus", "--memory", "--disk", "--net",
                                   "--console", "--rng", "--vsock", "--balloon"})
            if (seen.count(option))
                throw UsageError(std::string("--restore: ") + option + _(" comes from the snapshot's configuration"));
        return cl;
    }
    if (!cl.showVersion && !cl.showFeatures && !cl.showHelp && !cl.hasVm && cl.apiSocket.empty())
        throw UsageError(_("--kernel is required (or --api-socket, to create the VM through the API)"));
    // The rules are vm.create's too; a message names the field as the JSON does.
    if (cl.hasVm) {
        try {
            validateConfig(cl.config);
        } catch (const ConfigError& e) {
            throw UsageError(e.what());
        }
    }
    return cl;
}

}  // namespace mica
