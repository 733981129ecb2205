// Reading and writing component states: plain structs declared with nlohmann's
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE (the layout is the declaration), KVM's binary
// structs as base64 blobs of their exact size.
#pragma once

#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "Component.h"

namespace mica {

std::string encodeBase64(std::span<const uint8_t> bytes);
// Throws StateError on anything but canonical base64.
std::vector<uint8_t> decodeBase64(const std::string& text, const std::string& what);

// `what`'s state as T; a missing field or a wrong type is a StateError naming `what`.
template <typename T>
T readState(const nlohmann::json& state, const std::string& what)
{
    try {
        return state.get<T>();
    } catch (const nlohmann::json::exception& e) {
        throw StateError(what + ": " + e.what());
    }
}

// A fixed-size binary struct (KVM's) as base64.
template <typename T>
nlohmann::json blob(const T& value)
{
    static_assert(std::is_trivially_copyable_v<T>);
    return encodeBase64({reinterpret_cast<const uint8_t*>(&value), sizeof value});
}

template <typename T>
T fromBlob(const nlohmann::json& state, const std::string& what)
{
    static_assert(std::is_trivially_copyable_v<T>);
    if (!state.is_string())
        throw StateError(what + ": expected a base64 string");
    auto bytes = decodeBase64(state.get<std::string>(), what);
    if (bytes.size() != sizeof(T))
        throw StateError(what + ": " + std::to_string(bytes.size()) + " bytes where " + std::to_string(sizeof(T)) +
                         " were expected");
    T value;
    std::memcpy(&value, bytes.data(), sizeof value);
    return value;
}

// The member `key` of an object state, or a StateError naming what is missing.
const nlohmann::json& stateField(const nlohmann::json& state, const std::string& key, const std::string& what);

}  // namespace mica
