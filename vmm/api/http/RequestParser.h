// A strict, incremental HTTP/1.1 request parser for the VMM's API socket.
//
// The API is reachable by anything that can open the socket, so the parser bounds
// every size before buffering, accepts only what curl and the driver send (CRLF line
// ends, Content-Length bodies, origin-form targets) and refuses the rest with the
// status a client can act on. It never throws on input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "HttpMessage.h"

namespace mica::http {

struct ParserLimits {
    std::size_t maxHeadBytes = 16 * 1024;   // request line + headers
    std::size_t maxHeaders = 64;
    std::size_t maxTargetBytes = 2048;
    std::size_t maxBodyBytes = 1024 * 1024;
};

class RequestParser {
public:
    enum class State { NeedMore, Complete, Error };

    explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

    // Consumes bytes. Returns Complete once a whole request is buffered (take() it;
    // bytes past it stay buffered for the next request), Error if the input can never
    // become a valid request (errorStatus()/errorMessage() say why; the connection
    // should then be closed).
    State feed(std::string_view bytes);

    Request take();
    bool hasPartialRequest() const { return !buffer_.empty(); }
    int errorStatus() const { return errorStatus_; }
    const std::string& errorMessage() const { return errorMessage_; }

private:
    State fail(int status, std::string message);
    State parseHead(std::string_view head);
    State advance();

    ParserLimits limits_;
    std::string buffer_;
    Request request_;
    bool headDone_ = false;
    std::size_t bodyStart_ = 0;
    std::size_t bodyLength_ = 0;
    State state_ = State::NeedMore;
    int errorStatus_ = 0;
    std::string errorMessage_;
};

}  // namespace mica::http
