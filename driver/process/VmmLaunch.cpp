#include "VmmLaunch.h"

#include <fcntl.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include "CrashPoint.h"
#include "Tap.h"
#include "UnixSocket.h"
#include "UniqueFd.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::process {

namespace {

// open(2) flags of a file to hand over; this one instead: a unix socket listening there
// (a serial or console backend in socket mode, whose path a confined VMM cannot reach).
constexpr int kListeningSocket = -1;

// The files the VMM opens: those a VmConfig names and the backing files its disks'
// images name (readOnly): path -> open(2) flags or kListeningSocket. A path named twice
// with different access is opened read-write.
std::map<std::string, int> filesToHand(const nlohmann::json& config, const std::vector<std::string>& readOnly)
{
    std::map<std::string, int> files;
    auto add = [&](const std::string& path, int flags) {
        auto [it, fresh] = files.emplace(path, flags);
        if (!fresh && it->second != flags)
            it->second = O_RDWR | ((it->second | flags) & (O_CREAT | O_APPEND));
    };
    auto name = [&](const nlohmann::json& object, const char* key, int flags) {
        auto path = object.find(key);
        if (path != object.end() && path->is_string() && !path->get<std::string>().empty())
            add(path->get<std::string>(), flags);
    };
    // The objects under key: the one, or each of an array.
    auto each = [&](const char* key, auto&& f) {
        auto v = config.find(key);
        if (v == config.end())
            return;
        if (v->is_object())
            f(*v);
        if (v->is_array())
            for (const auto& item : *v)
                if (item.is_object())
                    f(item);
    };
    each("payload", [&](const nlohmann::json& payload) {
        name(payload, "kernel", O_RDONLY);
        name(payload, "initramfs", O_RDONLY);
    });
    each("disks", [&](const nlohmann::json& disk) { name(disk, "path", disk.value("readonly", false) ? O_RDONLY : O_RDWR); });
    each("rng", [&](const nlohmann::json& rng) { name(rng, "src", O_RDONLY); });
    // Output files of the serial port and console (mode "file"): created as the VMM would;
    // and their sockets (mode "socket"), listening as the VMM would.
    for (const char* key : {"serial", "console"})
        each(key, [&](const nlohmann::json& backend) {
            std::string mode = backend.value("mode", "");
            if (mode == "file")
                name(backend, "path", O_WRONLY | O_CREAT | O_APPEND);
            if (mode == "socket")
                name(backend, "path", kListeningSocket);
        });
    // vmm/block asks for each link of a chain by the path its metadata resolves to,
    // which is how the daemon read it: the same string finds the fd.
    for (const auto& path : readOnly)
        add(path, O_RDONLY);
    return files;
}



}  // namespace

VmmLaunchResult launchVmm(const VmmLaunchRequest& rq)
{
    VmmLaunchResult out;
    try {
        for (const auto& tap : rq.taps)
            if (createTap(tap.name, tap.queuePairs, tap.bridge, tap.mtu))
                out.createdTaps.push_back(tap.name);
        crashPoint("start-taps-created");
        // The VMM gets the TAPs' queues and the files its config names as fds
        // (vm.create's SCM_RIGHTS), so it needs neither CAP_NET_ADMIN nor access to the
        // images: it may run as a uid of its own. Each net entry naming a TAP names its
        // fds' indexes instead; "handed_files" maps each file's path to its fd. The
        // daemon's copies close when this returns; the VMM keeps its own. A restore
        // opens the same things in the same order, so the snapshot's indexes hold.
        nlohmann::json config = rq.config;
        std::vector<UniqueFd> fds;
        std::vector<int> fdNumbers;
        auto add = [&](UniqueFd fd, const std::string& what) {
            if (fds.size() == kMaxRequestFds)
                throw std::runtime_error(what + ": " + _("more than ") + std::to_string(kMaxRequestFds) +
                                         _(" TAP queues and files in all; mica-vmm takes at most that many fds"));
            fdNumbers.push_back(fd.get());
            fds.push_back(std::move(fd));
            return fds.size() - 1;
        };
        if (!config.contains("net"))
            config["net"] = nlohmann::json::array();
        for (auto& net : config["net"]) {
            if (!net.contains("tap"))
                continue;
            std::string name = net["tap"].get<std::string>();
            unsigned pairs = std::max(1u, net.value("num_queues", 2u) / 2);
            nlohmann::json indexes = nlohmann::json::array();
            for (auto& fd : openTapQueues(name, pairs))
                indexes.push_back(add(std::move(fd), "tap '" + name + "'"));
            net.erase("tap");
            net["fds"] = indexes;
        }
        nlohmann::json handed = nlohmann::json::object();
        auto files = filesToHand(config, rq.backingFiles);
        // A confined VMM's uid may not open /dev/kvm either (no kvm group, or no udev).
        if (rq.confinement)
            files["/dev/kvm"] = O_RDWR;
        for (const auto& [path, flags] : files) {
            // A socket takes the daemon's umask: it is root's, as when an unconfined VMM made it.
            UniqueFd fd = flags == kListeningSocket ? listenUnixSocket(path, 1)
                                                    : UniqueFd(::open(path.c_str(), flags | O_CLOEXEC, 0600));
            if (!fd)
                throw std::runtime_error(path + ": " + std::strerror(errno));
            handed[path] = add(std::move(fd), path);
        }
        if (!handed.empty())
            config["handed_files"] = handed;
        out.vmm = VmmProcess::spawn(rq.argv, rq.logPath, rq.eventFd, rq.confinement ? &*rq.confinement : nullptr,
                                    rq.lockFd, [&](pid_t pid) {
                                        if (rq.spawned)
                                            rq.spawned(pid, out.createdTaps);
                                        crashPoint("start-spawned");
                                    });

        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(rq.startTimeoutMs);
        while (!vmmSocketReady(rq.apiSocket)) {
            if (out.vmm->ended())
                throw std::runtime_error(_("the VMM ended while starting; see ") + rq.logPath);
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error(_("the VMM did not open its API socket in time"));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        auto call = [&](const char* method, const char* endpoint, const std::optional<nlohmann::json>& body,
                        const std::vector<int>& fds = {}) {
            crashPoint((std::string("start-before-") + endpoint).c_str());
            auto r = vmmRequest(rq.apiSocket, method, endpoint, body, kVmmCallMs, fds);
            crashPoint((std::string("start-after-") + endpoint).c_str());
            if (!r.ok())
                throw std::runtime_error(std::string(endpoint) + ": " + r.errorText());
            return r;
        };
        if (!rq.restoreUrl.empty()) {
            // The snapshot's net entries name their fds by the same indexes: the TAPs
            // opened above, in the same order.
            nlohmann::json body = {{"source_url", rq.restoreUrl}};
            if (!rq.restoreMemoryFile.empty()) {
                UniqueFd image(::open(rq.restoreMemoryFile.c_str(), O_RDONLY | O_CLOEXEC));
                if (!image)
                    throw std::runtime_error(rq.restoreMemoryFile + ": " + std::strerror(errno));
                body["memory_fd"] = add(std::move(image), rq.restoreMemoryFile);
                body["memory_offset"] = rq.restoreMemoryOffset;
                if (rq.restoreOnDemand)
                    body["memory_restore_mode"] = "ondemand";
            }
            // The VMM runs what the domain XML says, not what the snapshot's config.json
            // said when it was taken (libvirt's QEMU driver too starts from the image's
            // XML): an image redefined with save-image-define, restore --xml, or a
            // snapshot-revert onto new overlays. The VMM checks it against the state.
            body["config"] = config;
            call("PUT", "vm.restore", body, fdNumbers);
            if (!rq.paused)
                call("PUT", "vm.resume", std::nullopt);
        } else {
            call("PUT", "vm.create", config, fdNumbers);
            call("PUT", "vm.boot", std::nullopt);
            if (rq.paused)
                call("PUT", "vm.pause", std::nullopt);
        }
        auto info = call("GET", "vm.info", std::nullopt);
        if (info.body.is_object() && info.body.contains("serial_path") && info.body["serial_path"].is_string())
            out.serialPath = info.body["serial_path"].get<std::string>();
        if (info.body.is_object() && info.body.contains("device_tree"))
            out.deviceTree = info.body["device_tree"];
        return out;
    } catch (const std::exception& e) {
        out.error = e.what();
    }
    if (out.vmm) {
        out.vmm->kill(SIGKILL);
        out.vmm->waitEnded(5000);
        out.vmm.reset();
    }
    for (const auto& tap : out.createdTaps)
        deleteTap(tap);
    out.createdTaps.clear();
    return out;
}

}  // namespace mica::process
