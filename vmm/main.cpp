// mica-vmm: runs one VM on KVM. Exit status (docs/vmm.md): 0 the guest powered off,
// 1 an error (bad file, KVM failure, guest crash of the VMM's making), 2 a command-line
// error, 3 the guest rebooted under --on-reboot exit, 128+N ended by signal N.
#include <pthread.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "CommandLine.h"
#include "Error.h"
#include "EventLoop.h"
#include "ApiServer.h"
#include "EventMonitor.h"
#include "HostLimits.h"
#include "IoEngine.h"
#include "Seccomp.h"
#include "VcpuThread.h"
#include "Vmm.h"
#include "config.h"
#include "i18n.h"

using namespace mica;

namespace {

constexpr int kExitError = 1, kExitUsage = 2;

// What this build of mica-vmm can do, for the capabilities probe (capabilities/).
void printFeatures()
{
    nlohmann::json features = {
        {"version", MICA_VERSION},
        {"arch", "x86_64"},
        {"max_vcpus", kVmmMaxVcpus},
        {"boot", {"bzimage", "pvh"}},
        {"firmware", nlohmann::json::array()},
        {"devices", {"serial", "i8042", "rtc", "acpi-pm", "pci", "virtio-blk", "virtio-rng", "virtio-console", "virtio-net", "vsock", "virtio-balloon"}},
        {"serial_backends", {"off", "tty", "file", "pty", "socket"}},
        {"disk_formats", {"raw", "qcow2", "vhd", "vhdx"}},  // block::ImageType names
        {"features", {"smp", "hugepages", "acpi", "memfd"}},  // names: capabilities/README.md
    };
    // Disk I/O engines this host gives mica-vmm (io_uring only when the kernel lets it
    // make a ring); block::IoEngineKind names.
    features["io_engines"] = {"threads"};
    if (block::ioUringRefusal().empty())
        features["io_engines"].push_back("io_uring");
    std::cout << features.dump() << "\n";
}

// More fds than the default soft limit of 1024: an API under attack holds up to its
// connection limit, and a VM's queues each take two. Up to the hard limit the caller
// set (bounded, for code that walks every fd number).
void raiseOpenFileLimit()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

int main(int argc, char** argv)
{
    initI18n();
    // Before the command line's check of the VM against the host: the limits are read
    // once, here, while no thread runs under seccomp.
    raiseOpenFileLimit();
    thisHost();
    CommandLine cl;
    try {
        cl = parseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const UsageError& e) {
        std::cerr << "mica-vmm: " << e.what() << "\n" << kUsage;
        return kExitUsage;
    }
    if (cl.showHelp) {
        std::cout << kUsage;
        return 0;
    }
    if (cl.showVersion) {
        std::cout << "mica-vmm " << MICA_VERSION << "\n";
        return 0;
    }
    if (cl.showFeatures) {
        printFeatures();
        return 0;
    }

    // SIGINT and SIGTERM end the VMM through the devices loop (SIGUSR1 cancels a snapshot
    // there); every thread started from here on inherits the blocked mask, so only the
    // signalfd sees them. Blocked, they also reach a VMM that is its pid namespace's init.
    // (SIGUSR2 is the vCPU threads' kick, vcpu/VcpuThread: never blocked.)
    sigset_t endSignals;
    sigemptyset(&endSignals);
    sigaddset(&endSignals, SIGINT);
    sigaddset(&endSignals, SIGTERM);
    sigaddset(&endSignals, SIGUSR1);   // not an end: cancels a vm.snapshot writing RAM
    pthread_sigmask(SIG_BLOCK, &endSignals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    vcpu::installVcpuKickHandler();
    vcpu::rememberStartCpus();
    // glibc loads the time zone on the first gmtime_r (the CMOS RTC's, on a vCPU thread);
    // load it now, while opening /etc/localtime is still allowed.
    ::tzset();

    setSeccompMode(cl.seccomp == CommandLine::Seccomp::On    ? SeccompMode::On
                   : cl.seccomp == CommandLine::Seccomp::Log ? SeccompMode::Log
                                                              : SeccompMode::Off);
    if (!cl.seccompSelfTest.empty())
        setSeccompSelfTest(cl.seccompSelfTest);
    try {
        EventMonitor events = cl.eventMonitor.empty() ? EventMonitor() : EventMonitor(cl.eventMonitor);
        UniqueFd apiListener = cl.apiSocket.empty() ? UniqueFd() : openApiSocket(cl.apiSocket);
        EventLoop loop;  // before the VMM: its console backends unregister from the loop
        std::thread devices([&] {
            pthread_setname_np(pthread_self(), "devices");
            try {
                applySeccomp(ThreadRole::Devices);
                seccompSelfTestPoint(ThreadRole::Devices);
            } catch (const std::exception& e) {
                std::cerr << "mica-vmm: " << e.what() << std::endl;
                std::_Exit(kExitError);
            }
            loop.run();
        });
        struct StopLoop {
            EventLoop& loop;
            std::thread& thread;
            ~StopLoop() { loop.stop(); thread.join(); }
        } stopLoop{loop, devices};

        Vmm vmm(loop, events, cl.onReboot, cl.statsOnExit);
        UniqueFd signals(::signalfd(-1, &endSignals, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!signals)
            throw systemError("signalfd");
        loop.add(signals.get(), [&] {
            signalfd_siginfo info{};
            if (::read(signals.get(), &info, sizeof info) != sizeof info)
                return;
            if (info.ssi_signo == SIGUSR1)
                vmm.cancelSnapshot();
            else
                vmm.requestExit(128 + static_cast<int>(info.ssi_signo));
        });
        std::optional<ApiServer> api;
        if (apiListener)
            api.emplace(std::move(apiListener), vmm, cl.apiTimeoutSeconds);
        if (!cl.restoreSource.empty()) {
            vmm.restore(cl.restoreSource, cl.serialGiven ? std::optional(cl.config.serial) : std::nullopt,
                        cl.restoreMemoryMode);
        } else if (cl.hasVm) {
            vmm.create(cl.config);
            vmm.boot();
        }
        // The process's own thread gets a filter too (what /proc/PID/status shows):
        // nothing is left for it to build.
        applySeccomp(ThreadRole::Main);
        seccompSelfTestPoint(ThreadRole::Main);
        int status = vmm.waitForExit();
        loop.remove(signals.get());
        return status;
    } catch (const std::exception& e) {
        std::cerr << "mica-vmm: " << e.what() << "\n";
        return kExitError;
    }
}
