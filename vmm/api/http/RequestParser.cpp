#include "RequestParser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace mica::http {

namespace {

// RFC 9110 "token" characters: what method and header names may contain.
bool isTokenChar(unsigned char c)
{
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool isToken(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return isTokenChar(static_cast<unsigned char>(c)); });
}

bool isFieldValue(std::string_view s)
{
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u == '\t' || (u >= 0x20 && u != 0x7f);
    });
}

std::string_view trimOws(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// What a client sent, made printable for an error message.
std::string quoted(std::string_view s)
{
    std::string out;
    for (char c : s.substr(0, 64))
        out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return "'" + out + (s.size() > 64 ? "...'" : "'");
}

}  // namespace

RequestParser::State RequestParser::fail(int status, std::string message)
{
    errorStatus_ = status;
    errorMessage_ = std::move(message);
    return state_ = State::Error;
}

RequestParser::State RequestParser::feed(std::string_view bytes)
{
    if (state_ == State::Error)
        return state_;
    buffer_.append(bytes);
    return advance();
}

RequestParser::State RequestParser::advance()
{
    if (state_ == State::Complete)
        return state_;
    if (!headDone_) {
        std::size_t end = buffer_.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (buffer_.size() > limits_.maxHeadBytes)
                return fail(431, "request line and headers exceed " + std::to_string(limits_.maxHeadBytes) + " bytes");
            return State::NeedMore;
        }
        if (end + 4 > limits_.maxHeadBytes)
            return fail(431, "request line and headers exceed " + std::to_string(limits_.maxHeadBytes) + " bytes");
        if (parseHead(std::string_view(buffer_).substr(0, end + 2)) == State::Error)
            return state_;
        headDone_ = true;
        bodyStart_ = end + 4;
    }
    if (buffer_.size() - bodyStart_ < bodyLength_)
        return State::NeedMore;
    request_.body = buffer_.substr(bodyStart_, bodyLength_);
    return state_ = State::Complete;
}

RequestParser::State RequestParser::parseHead(std::string_view head)
{
    // Split into CRLF-terminated lines; a bare CR or LF anywhere is refused, since
    // lenient line splitting is how request smuggling starts.
    std::vector<std::string_view> lines;
    while (!head.empty()) {
        std::size_t crlf = head.find("\r\n");
        std::string_view line = head.substr(0, crlf);
        if (line.find_first_of("\r\n") != std::string_view::npos)
            return fail(400, "bare CR or LF in the request head");
        lines.push_back(line);
        head.remove_prefix(crlf + 2);
    }

    // Request line: METHOD SP TARGET SP HTTP-VERSION
    std::string_view requestLine = lines.front();
    std::size_t sp1 = requestLine.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : requestLine.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || requestLine.find(' ', sp2 + 1) != std::string_view::npos)
        return fail(400, "malformed request line " + quoted(requestLine));
    std::string_view method = requestLine.substr(0, sp1);
    std::string_view target = requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = requestLine.substr(sp2 + 1);
    if (!isToken(method))
        return fail(400, "malformed method " + quoted(method));
    if (target.empty() || target.front() != '/' || !isFieldValue(target) || target.find('\t') != std::string_view::npos)
        return fail(400, "malformed request target " + quoted(target));
    if (target.size() > limits_.maxTargetBytes)
        return fail(414, "request target longer than " + std::to_string(limits_.maxTargetBytes) + " bytes");
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        if (version.substr(0, 5) == "HTTP/")
            return fail(505, "unsupported HTTP version " + quoted(version) + "; use HTTP/1.1");
        return fail(400, "malformed HTTP version " + quoted(version));
    }
    request_.method = std::string(method);
    request_.path = std::string(target);

    bool haveLength = false;
    for (std::size_t i = 1; i < lines.size(); i++) {
        std::string_view line = lines[i];
        if (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
            return fail(400, "obsolete header line folding is not accepted");
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || !isToken(line.substr(0, colon)))
            return fail(400, "malformed header line " + quoted(line));
        std::string_view value = trimOws(line.substr(colon + 1));
        if (!isFieldValue(value))
            return fail(400, "control characters in header " + quoted(line.substr(0, colon)));
        if (request_.headers.size() == limits_.maxHeaders)
            return fail(431, "more than " + std::to_string(limits_.maxHeaders) + " headers");
        std::string name = lower(line.substr(0, colon));
        if (name == "transfer-encoding")
            return fail(501, "Transfer-Encoding is not supported; send the body with Content-Length");
        if (name == "content-length") {
            std::size_t length = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
            if (value.empty() || ec != std::errc() || end != value.data() + value.size())
                return fail(400, "malformed Content-Length " + quoted(value));
            if (haveLength && length != bodyLength_)
                return fail(400, "conflicting Content-Length headers");
            if (length > limits_.maxBodyBytes)
                return fail(413, "request body of " + std::to_string(length) + " bytes exceeds the limit of " +
                                     std::to_string(limits_.maxBodyBytes));
            haveLength = true;
            bodyLength_ = length;
        }
        request_.headers.emplace_back(std::move(name), std::string(value));
    }
    return State::NeedMore;
}

Request RequestParser::take()
{
    Request out = std::move(request_);
    buffer_.erase(0, bodyStart_ + bodyLength_);
    request_ = {};
    headDone_ = false;
    bodyStart_ = bodyLength_ = 0;
    state_ = State::NeedMore;
    return out;
}

}  // namespace mica::http
