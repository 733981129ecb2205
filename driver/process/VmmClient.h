// A blocking client for one mica-vmm's REST API (docs/vmm-api.md) on its unix socket:
// one HTTP/1.1 request per connection, bounded by a timeout, so a VMM that hangs can
// delay the daemon by at most that long and never wedge it.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mica::process {

struct VmmResponse {
    int status = 0;            // HTTP status
    nlohmann::json body;       // parsed body; null when empty
    // The answering process as the kernel tells it (SO_PEERCRED), in the daemon's pid
    // namespace: a VMM in its own says 1 of itself.
    pid_t peerPid = 0;
    // The VMM's {"error": "..."} text, or a generic one, for non-2xx answers.
    std::string errorText() const;
    bool ok() const { return status >= 200 && status < 300; }
};

// The VMM could not be reached or answered something that is not HTTP.
class VmmUnreachable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Long enough for vm.boot on a loaded or emulated host, where creating the VM and
// loading the kernel can take many seconds.
inline constexpr int kVmmCallMs = 60000;

// The most fds one request may carry (the VMM's limit, vmm/api/http/ReceivedFds.h).
inline constexpr size_t kMaxRequestFds = 64;

// method "GET" or "PUT"; endpoint without /api/v1/ ("vm.boot"). `fds` go with the
// request as SCM_RIGHTS on its first bytes (the VMM gets its own copies; the caller still
// closes its own). Throws VmmUnreachable, or std::invalid_argument for more than
// kMaxRequestFds fds.
VmmResponse vmmRequest(const std::string& socketPath, const char* method, const std::string& endpoint,
                       const std::optional<nlohmann::json>& body = std::nullopt, int timeoutMs = kVmmCallMs,
                       const std::vector<int>& fds = {});

// True when something accepts connections on socketPath.
bool vmmSocketReady(const std::string& socketPath);

}  // namespace mica::process
