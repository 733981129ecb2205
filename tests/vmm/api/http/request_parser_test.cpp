#include "RequestParser.h"

#include <gtest/gtest.h>

using mica::http::ParserLimits;
using mica::http::RequestParser;
using State = RequestParser::State;

namespace {

// Feeds the whole input and returns the final state.
State parse(RequestParser& parser, std::string_view input)
{
    return parser.feed(input);
}

}  // namespace

TEST(RequestParser, ParsesPutWithBody)
{
    RequestParser parser;
    ASSERT_EQ(parse(parser, "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                            "Content-Length: 7\r\n\r\n{\"a\":1}"),
              State::Complete);
    auto request = parser.take();
    EXPECT_EQ(request.method, "PUT");
    EXPECT_EQ(request.path, "/api/v1/vm.create");
    EXPECT_EQ(request.body, "{\"a\":1}");
    ASSERT_NE(request.header("content-type"), nullptr);
    EXPECT_EQ(*request.header("content-type"), "application/json");
    EXPECT_FALSE(parser.hasPartialRequest());
}

TEST(RequestParser, WaitsForTheWholeRequestByteByByte)
{
    std::string input = "GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: 2\r\n\r\nok";
    RequestParser parser;
    for (std::size_t i = 0; i + 1 < input.size(); i++)
        ASSERT_EQ(parser.feed(input.substr(i, 1)), State::NeedMore) << "at byte " << i;
    ASSERT_EQ(parser.feed(input.substr(input.size() - 1)), State::Complete);
    EXPECT_EQ(parser.take().body, "ok");
}

TEST(RequestParser, KeepsPipelinedRequestsForLater)
{
    RequestParser parser;
    ASSERT_EQ(parser.feed("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), State::Complete);
    EXPECT_EQ(parser.take().path, "/a");
    ASSERT_EQ(parser.feed({}), State::Complete);
    EXPECT_EQ(parser.take().path, "/b");
    EXPECT_EQ(parser.feed({}), State::NeedMore);
}

struct BadRequest {
    const char* input;
    int status;
    const char* messagePart;
};

class RequestParserRefuses : public ::testing::TestWithParam<BadRequest> {};

TEST_P(RequestParserRefuses, WithStatusAndMessage)
{
    RequestParser parser(ParserLimits{.maxHeadBytes = 256, .maxHeaders = 4, .maxTargetBytes = 32, .maxBodyBytes = 16});
    ASSERT_EQ(parser.feed(GetParam().input), State::Error);
    EXPECT_EQ(parser.errorStatus(), GetParam().status);
    EXPECT_NE(parser.errorMessage().find(GetParam().messagePart), std::string::npos) << parser.errorMessage();
    // Once broken, the parser stays broken: the connection is to be closed.
    EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\n\r\n"), State::Error);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, RequestParserRefuses,
    ::testing::Values(BadRequest{"GARBAGE\r\n\r\n", 400, "malformed request line"},
                      BadRequest{"GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
                      BadRequest{"G(T / HTTP/1.1\r\n\r\n", 400, "malformed method"},
                      BadRequest{"GET api HTTP/1.1\r\n\r\n", 400, "malformed request target"},
                      BadRequest{"GET /0123456789012345678901234567890123 HTTP/1.1\r\n\r\n", 414, "longer than"},
                      BadRequest{"GET / HTTP/2.0\r\n\r\n", 505, "unsupported HTTP version"},
                      BadRequest{"GET / FTP/1.0\r\n\r\n", 400, "malformed HTTP version"},
                      BadRequest{"GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", 400, "bare CR or LF"},
                      BadRequest{"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "folding"},
                      BadRequest{"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "malformed header"},
                      BadRequest{"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 431, "headers"},
                      BadRequest{"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"},
                      BadRequest{"PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "Content-Length"},
                      BadRequest{"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "conflicting"},
                      BadRequest{"PUT / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413, "exceeds the limit"},
                      BadRequest{"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "Content-Length"}));

TEST(RequestParser, RefusesAnOversizedHeadBeforeItEnds)
{
    RequestParser parser(ParserLimits{.maxHeadBytes = 64});
    EXPECT_EQ(parser.feed("GET / HTTP/1.1\r\nX-Long: " + std::string(100, 'a')), State::Error);
    EXPECT_EQ(parser.errorStatus(), 431);
}
