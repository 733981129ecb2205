#include "InputBudget.h"

#include <algorithm>
#include <vector>

namespace mica::rpc {

bool InputBudget::update(std::uint64_t id, std::size_t held, bool growing)
{
    bool wasOver = over();
    Entry& e = entries_[id];
    held_ = held_ - e.held + held;
    e.held = held;
    e.growing = growing;
    if (!over()) {
        chosen_.clear();
        return wasOver;   // under the cap again: everyone may read
    }
    // Over the cap, either every grower is chosen or the set is full (refill keeps it so).
    if (!wasOver) {
        refill();              // just went over: choose who goes on (nobody waits yet)
        return false;
    }
    if (!growing)
        return chosen_.erase(id) > 0 && refill();   // it finished: the next biggest goes on
    if (!chosen_.count(id) && chosen_.size() < continuing_)
        chosen_.insert(id);    // room left: a new large message joins
    return false;
}

bool InputBudget::remove(std::uint64_t id)
{
    auto it = entries_.find(id);
    if (it == entries_.end())
        return false;
    bool wasOver = over();
    held_ -= it->second.held;
    entries_.erase(it);
    bool wasChosen = chosen_.erase(id) > 0;
    if (!over()) {
        chosen_.clear();
        return wasOver;
    }
    return wasChosen && refill();
}

bool InputBudget::mayRead(std::uint64_t id) const
{
    if (!over())
        return true;
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.growing)
        return true;
    return chosen_.count(id) > 0;
}

bool InputBudget::refill()
{
    if (chosen_.size() >= continuing_)
        return false;
    std::vector<std::pair<std::size_t, std::uint64_t>> growers;   // (held, id)
    for (const auto& [id, e] : entries_)
        if (e.growing && !chosen_.count(id))
            growers.emplace_back(e.held, id);
    std::size_t wanted = std::min(continuing_ - chosen_.size(), growers.size());
    // Biggest first; among equals the older client (lower id).
    std::partial_sort(growers.begin(), growers.begin() + static_cast<std::ptrdiff_t>(wanted), growers.end(),
                      [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    for (std::size_t i = 0; i < wanted; ++i)
        chosen_.insert(growers[i].second);
    return wanted > 0;
}

}  // namespace mica::rpc
