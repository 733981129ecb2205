// libFuzzer target: arbitrary bytes, split at fuzzer-chosen points, into the API's
// HTTP request parser. Any crash, hang or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "RequestParser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    // The first byte picks the chunk size, so split reads are explored too.
    std::size_t chunk = data[0] % 32 + 1;
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    mica::http::RequestParser parser(mica::http::ParserLimits{.maxHeadBytes = 1024, .maxHeaders = 8, .maxTargetBytes = 128, .maxBodyBytes = 512});
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        auto state = parser.feed(input.substr(at, chunk));
        while (state == mica::http::RequestParser::State::Complete) {
            parser.take();
            state = parser.feed({});
        }
        if (state == mica::http::RequestParser::State::Error)
            break;
    }
    return 0;
}
