#include "StateJson.h"

namespace mica {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}
}  // namespace

std::string encodeBase64(std::span<const uint8_t> bytes)
{
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        uint32_t group = uint32_t{bytes[i]} << 16;
        if (i + 1 < bytes.size())
            group |= uint32_t{bytes[i + 1]} << 8;
        if (i + 2 < bytes.size())
            group |= bytes[i + 2];
        out += kAlphabet[group >> 18 & 63];
        out += kAlphabet[group >> 12 & 63];
        out += i + 1 < bytes.size() ? kAlphabet[group >> 6 & 63] : '=';
        out += i + 2 < bytes.size() ? kAlphabet[group & 63] : '=';
    }
    return out;
}

std::vector<uint8_t> decodeBase64(const std::string& text, const std::string& what)
{
    if (text.size() % 4)
        throw StateError(what + ": base64 length is not a multiple of 4");
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        int pad = (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=');
        if (pad && i + 4 != text.size())
            throw StateError(what + ": base64 padding before the end");
        uint32_t group = 0;
        for (int k = 0; k < 4 - pad; ++k) {
            int v = sextet(text[i + k]);
            if (v < 0)
                throw StateError(what + ": not base64");
            group |= static_cast<uint32_t>(v) << (18 - 6 * k);
        }
        out.push_back(static_cast<uint8_t>(group >> 16));
        if (pad < 2)
            out.push_back(static_cast<uint8_t>(group >> 8));
        if (pad < 1)
            out.push_back(static_cast<uint8_t>(group));
    }
    return out;
}

const nlohmann::json& stateField(const nlohmann::json& state, const std::string& key, const std::string& what)
{
    if (!state.is_object() || !state.contains(key))
        throw StateError(what + ": no '" + key + "' in the saved state");
    return state[key];
}

}  // namespace mica
