#include "HttpMessage.h"

#include <nlohmann/json.hpp>

namespace mica::http {

const std::string* Request::header(std::string_view name) const
{
    for (const auto& [key, value] : headers)
        if (key == name)
            return &value;
    return nullptr;
}

Response Response::error(int status, std::string_view message)
{
    // error_handler_t::replace: a message quoting bad client bytes must still encode.
    nlohmann::json body = {{"error", message}};
    return Response{status, "application/json",
                    body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), false};
}

std::string_view reasonPhrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

std::string Response::serialize() const
{
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonPhrase(status)) + "\r\n";
    out += "Server: mica-vmm\r\n";
    if (!body.empty())
        out += "Content-Type: " + contentType + "\r\n";
    if (status != 204)
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (closeConnection)
        out += "Connection: close\r\n";
    out += "\r\n";
    out += body;
    return out;
}

}  // namespace mica::http
