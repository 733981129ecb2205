// HTTP/1.1 messages as the VMM's REST API sees them: one request in, one response out.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "UniqueFd.h"

namespace mica::http {

struct Request {
    std::string method;   // "GET", "PUT", ... (case-sensitive, as RFC 9110 says)
    std::string path;     // the request target, origin form: "/api/v1/vm.info"
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    // Fds that came with it (SCM_RIGHTS, see ReceivedFds.h). A handler moves out the
    // ones it keeps; the rest close with the request.
    std::vector<UniqueFd> fds;

    // The first header with this (lower-case) name, or nullptr.
    const std::string* header(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string contentType = "application/json";
    std::string body;
    bool closeConnection = false;

    // A JSON error body {"error": message}, the shape every API error has.
    static Response error(int status, std::string_view message);
    static Response noContent() { return Response{204, {}, {}, false}; }

    std::string serialize() const;
};

std::string_view reasonPhrase(int status);

}  // namespace mica::http
