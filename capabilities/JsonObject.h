// The recorded KVM answers and `mica-vmm --features` are both one JSON object; this
// reads one and says plainly what is wrong when it is not.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace mica::caps {

inline nlohmann::json parseJsonObject(const std::string& text)
{
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(std::string("not JSON: ") + e.what());
    }
    if (!doc.is_object())
        throw std::runtime_error("not a JSON object");
    return doc;
}

}  // namespace mica::caps
