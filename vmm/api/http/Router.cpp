#include "Router.h"

namespace mica::http {

void Router::add(const std::string& method, const std::string& path, Handler handler)
{
    routes_[path][method] = std::move(handler);
}

Response Router::dispatch(Request& request) const
{
    // Query strings are not part of any route.
    std::string path = request.path.substr(0, request.path.find('?'));
    auto route = routes_.find(path);
    if (route == routes_.end())
        return Response::error(404, "no such endpoint: " + path);
    auto handler = route->second.find(request.method);
    if (handler == route->second.end()) {
        std::string allowed;
        for (const auto& [method, unused] : route->second)
            allowed += (allowed.empty() ? "" : ", ") + method;
        return Response::error(405, "method " + request.method + " not allowed on " + path + "; use " + allowed);
    }
    return handler->second(request);
}

}  // namespace mica::http
