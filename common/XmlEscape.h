// Text for XML attribute values and element content, for the documents we write by
// hand (capabilities, sysinfo). Control characters other than tab and newline are not
// allowed in XML 1.0: they become '?'.
#pragma once

#include <string>
#include <string_view>

namespace mica {

inline std::string xmlEscape(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '\'': out += "&apos;"; break;
        case '"': out += "&quot;"; break;
        default:
            out += static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' ? '?' : c;
        }
    }
    return out;
}

}  // namespace mica
