#include "VmmLaunch.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "Tap.h"
#include "UniqueFd.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::process {

VmmLaunchResult launchVmm(const VmmLaunchRequest& rq)
{
    VmmLaunchResult out;
    try {
        for (const auto& tap : rq.taps)
            if (createTap(tap.name, tap.queuePairs, tap.bridge, tap.mtu))
                out.createdTaps.push_back(tap.name);
        // The VMM gets the TAPs' queues as fds (vm.create's SCM_RIGHTS): each net entry
        // naming a TAP names its fds' indexes instead. The daemon's copies close when
        // this returns; the VMM keeps its own.
        nlohmann::json config = rq.config;
        std::vector<UniqueFd> tapFds;
        std::vector<int> fdNumbers;
        if (!config.contains("net"))
            config["net"] = nlohmann::json::array();
        for (auto& net : config["net"]) {
            if (!net.contains("tap"))
                continue;
            std::string name = net["tap"].get<std::string>();
            unsigned pairs = std::max(1u, net.value("num_queues", 2u) / 2);
            nlohmann::json indexes = nlohmann::json::array();
            for (auto& fd : openTapQueues(name, pairs)) {
                indexes.push_back(tapFds.size());
                fdNumbers.push_back(fd.get());
                tapFds.push_back(std::move(fd));
            }
            if (tapFds.size() > kMaxRequestFds)
                throw std::runtime_error("tap '" + name + "': " + std::to_string(tapFds.size()) +
                                         _(" TAP queues in all; mica-vmm takes at most ") +
                                         std::to_string(kMaxRequestFds) + _(" fds with vm.create"));
            net.erase("tap");
            net["fds"] = indexes;
        }
        out.vmm = VmmProcess::spawn(rq.argv, rq.logPath, rq.eventFd);

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
            auto r = vmmRequest(rq.apiSocket, method, endpoint, body, kVmmCallMs, fds);
            if (!r.ok())
                throw std::runtime_error(std::string(endpoint) + ": " + r.errorText());
            return r;
        };
        if (!rq.restoreUrl.empty()) {
            // The snapshot's net entries name their fds by the same indexes: the TAPs
            // opened above, in the same order.
            call("PUT", "vm.restore", nlohmann::json{{"source_url", rq.restoreUrl}}, fdNumbers);
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
