// virtmicad: the mica:// libvirt driver daemon. Sets up paths, the pid lock and the
// listening sockets, then runs the RPC server on one event loop until a signal or the
// idle timeout ends it.
#include <malloc.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "CapabilitiesHooks.h"
#include "DaemonOptions.h"
#include "DomainManager.h"
#include "DomainStore.h"
#include "HostInfo.h"
#include "Listeners.h"
#include "PidFile.h"
#include "RemoteProgram.h"
#include "Server.h"
#include "config.h"
#include "i18n.h"

namespace {

using namespace mica;
using namespace mica::driver;

void makeDir(const std::string& dir, std::filesystem::perms perms)
{
    std::error_code ec;
    if (std::filesystem::create_directories(dir, ec))
        std::filesystem::permissions(dir, perms, ec);
    if (!std::filesystem::is_directory(dir))
        throw std::runtime_error(dir + ": " + _("cannot create directory"));
}

// Clients are fds: with the soft limit (often 1024) below max_clients, accept() would
// fail with EMFILE long before the limits the administrator set. The hard limit is
// ours to take.
void raiseFileLimit(const ClientLimits& limits)
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit raised{lim.rlim_max, lim.rlim_max};
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            lim = raised;
    }
    // The fds beside the clients': VMM channels, logs, pidfds, listeners (a margin).
    rlim_t wanted = static_cast<rlim_t>(limits.maxClients) + 256;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < wanted)
        std::fprintf(stderr, "virtmicad: warning: open files limited to %llu, fewer than max_clients (%d) needs\n",
                     static_cast<unsigned long long>(lim.rlim_cur), limits.maxClients);
}

int runDaemon(DaemonOptions options)
{
    DaemonPaths paths = daemonPaths(options);
    applyDaemonConfig(options, paths);
    ClientLimits limits = clientLimits(options);
    raiseFileLimit(limits);
    // glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB),
    // after which a client's 32 MiB message comes from the heap and its pages stay with
    // the daemon when it is freed. A fixed threshold keeps large buffers mmap()ed, so
    // freeing one gives its memory back to the host.
    ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    auto dirPerms = paths.mode == DaemonMode::System ? std::filesystem::perms(0755)
                                                     : std::filesystem::perms(0700);
    makeDir(paths.socketDir, dirPerms);
    makeDir(paths.stateDir, std::filesystem::perms(0700));
    domain::ManagerOptions managerOptions;
    managerOptions.maxWorkers = static_cast<std::size_t>(limits.maxWorkers);
    if (options.confinement) {
        if (::geteuid() != 0)
            throw std::invalid_argument(_("--vmm-uids, --vmm-user: only a daemon running as root can run VMMs as other uids"));
        managerOptions.confinement = options.confinement;
    }

    // Taken before touching any socket: a second daemon must not unlink the first's.
    PidFile pidFile(paths.pidFile);

    std::vector<Listener> listeners = inheritedListeners();
    if (listeners.empty()) {
        listeners.push_back({bindUnixSocket(paths.rwSocket, 0600), false, paths.rwSocket});
        if (!paths.roSocket.empty())
            listeners.push_back({bindUnixSocket(paths.roSocket, 0666), true, paths.roSocket});
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    ::sigprocmask(SIG_BLOCK, &sigs, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    UniqueFd sigFd(::signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigFd)
        throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));

    HostInfo host;
    caps::Options capsOptions;
    capsOptions.vmmPath = options.vmm.value_or("");
    capsOptions.root = options.hostRoot.value_or("/");
    caps::Capabilities capabilities(capsOptions);

    rpc::EventLoop loop;
    rpc::ServerOptions serverOptions;
    serverOptions.keepaliveIntervalMs = options.keepaliveIntervalSecs * 1000ll;
    serverOptions.keepaliveCount = options.keepaliveCount;
    serverOptions.maxClients = static_cast<std::size_t>(limits.maxClients);
    serverOptions.readWriteReservedClients = static_cast<std::size_t>(limits.rwReservedClients);
    serverOptions.maxAnonymousClients = static_cast<std::size_t>(limits.maxAnonymousClients);
    serverOptions.anonymousTimeoutMs = limits.anonymousClientTimeoutSecs * 1000ll;
    serverOptions.maxInFlight = static_cast<std::size_t>(limits.maxClientRequests);
    serverOptions.maxIncomingBytes = static_cast<std::size_t>(limits.maxIncomingMib) << 20;
    // The dispatcher outlives the server (which holds a reference); the domain manager
    // needs the server for its events, the dispatcher needs the manager.
    rpc::Dispatcher dispatcher;
    rpc::Server server(loop, dispatcher, serverOptions);

    domain::DomainStore store({paths.configDir, paths.stateDir, paths.logDir, paths.saveDir, paths.snapshotDir});
    if (managerOptions.confinement) {
        // A confined VMM reaches its run directory through the state directory, and
        // writes a managed save's snapshot in the save directory: it may pass (x) but
        // not list them; the files there are 0600 and the run directories 0700.
        std::filesystem::permissions(paths.stateDir, std::filesystem::perms(0711));
        std::filesystem::permissions(paths.saveDir, std::filesystem::perms(0711));
    }
    domain::DomainHooks hooks;
    hooks.lifecycle = [&server](const rpc::DomainRef& dom, int event, int detail) {
        server.emitDomainLifecycle(dom, event, detail);
    };
    hooks.reboot = [&server](const rpc::DomainRef& dom) { server.emitDomainReboot(dom); };
    hooks.blockJob = [&server](const rpc::DomainRef& dom, const std::string& path, const std::string& target, int type,
                               int status) { server.emitDomainBlockJob(dom, path, target, type, status); };
    hooks.device = [&server](const rpc::DomainRef& dom, int eventId, const std::string& alias) {
        server.emitDomainDevice(dom, eventId, alias);
    };
    hooks.metadata = [&server](const rpc::DomainRef& dom, int type, const std::optional<std::string>& nsUri) {
        server.emitDomainMetadata(dom, type, nsUri);
    };
    hooks.domainCaps = [&capabilities] { return capabilities.domainXml({}, {}, {}, {}); };
    domain::DomainManager domains(loop, store, capabilities.vmmPath(), hooks, managerOptions);
    domains.load();

    RemoteProgramContext ctx{paths.mode, domains, host, capabilitiesHooks(capabilities)};
    registerRemoteProgram(dispatcher, ctx);
    registerDomainOperations(dispatcher, domains);
    registerSnapshotProcedures(dispatcher, domains);
    registerBlockJobProcedures(dispatcher, domains);
    registerDeviceProcedures(dispatcher, domains);

    std::vector<std::string> ownedPaths;
    for (auto& l : listeners) {
        if (!l.path.empty())
            ownedPaths.push_back(l.path);
        server.addListener(std::move(l.fd), l.readOnly);
    }

    // SIGTERM/SIGINT stop the daemon; with on_stop = "managedsave" once the running guests
    // are saved (a second signal stops it at once).
    bool saving = false;
    loop.watch(sigFd.get(), EPOLLIN, [&](std::uint32_t) {
        signalfd_siginfo si{};
        while (::read(sigFd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            if (si.ssi_signo == SIGHUP)
                continue;
            if (options.onStop.value_or("keep") == "managedsave" && !saving) {
                saving = true;
                std::fprintf(stderr, "virtmicad: saving the running guests before stopping\n");
                domains.managedSaveForStop([&loop] { loop.quit(); });
            } else {
                loop.quit();
            }
        }
    });
    // Ticks drive keepalive pings and the idle timeout; 250 ms keeps both prompt.
    loop.setTick(250, [&] {
        server.tick();
        domains.tick();
        if (options.timeoutSecs > 0 && server.clientCount() == 0 && domains.activeCount() == 0 &&
            server.idleSinceMs() > 0 &&
            rpc::EventLoop::nowMs() - server.idleSinceMs() >= options.timeoutSecs * 1000ll) {
            std::fprintf(stderr, "virtmicad: idle for %d s, exiting\n", options.timeoutSecs);
            loop.quit();
        }
    });

    notifyReady();
    loop.run();
    for (const auto& p : ownedPaths)
        ::unlink(p.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    mica::initI18n();
    try {
        DaemonOptions options = parseDaemonOptions(argc, argv);
        if (options.help) {
            std::fputs(daemonUsage().c_str(), stdout);
            return 0;
        }
        if (options.version) {
            std::printf("virtmicad %s\n", MICA_VERSION);
            return 0;
        }
        return runDaemon(options);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "virtmicad: %s\n%s", e.what(), daemonUsage().c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "virtmicad: %s\n", e.what());
        return 1;
    }
}
