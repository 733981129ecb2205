// The REST API (--api-socket): Cloud Hypervisor's endpoint names over HTTP/1.1 on a
// unix socket, served on an `api` thread. Endpoints and bodies: docs/vmm-api.md and
// schemas/mica-vmm-api.yaml. Every error is a 4xx/5xx with {"error": "..."}; nothing a
// client sends stops the VMM.
#pragma once

#include <thread>

#include "Router.h"
#include "Server.h"
#include "Vmm.h"

namespace mica {

class ApiServer {
public:
    // `listener` is a bound, listening unix socket (a path we created, or inherited);
    // `timeoutSeconds` bounds each request, the wait for one, and the read of a reply
    // (--api-timeout).
    ApiServer(UniqueFd listener, Vmm& vmm, unsigned timeoutSeconds = 30);
    ~ApiServer();

private:
    static http::ServerOptions serverOptions(unsigned timeoutSeconds);
    http::Response handle(http::Request& request);
    Vmm& vmm_;
    http::Router router_;
    http::Server server_;
    std::thread thread_;
};

// "PATH", "path=PATH" or "fd=N" (an inherited listening socket); throws Error.
UniqueFd openApiSocket(const std::string& spec);

}  // namespace mica
