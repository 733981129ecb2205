// Maps (method, path) to a handler, answering 404 for unknown paths and 405 (naming the
// allowed methods) for a known path with the wrong method.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "HttpMessage.h"

namespace mica::http {

class Router {
public:
    using Handler = std::function<Response(Request&)>;

    void add(const std::string& method, const std::string& path, Handler handler);
    Response dispatch(Request& request) const;

private:
    std::map<std::string, std::map<std::string, Handler>> routes_;   // path -> method -> handler
};

}  // namespace mica::http
