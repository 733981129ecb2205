#include "DomainJob.h"

namespace mica::domain {

std::optional<DomainJob::Waiter> DomainJob::acquire(Waiter w)
{
    if (!owner_) {
        owner_ = w.name;
        return w;
    }
    waiting_.push_back(std::move(w));
    return std::nullopt;
}

std::optional<DomainJob::Waiter> DomainJob::release()
{
    owner_.reset();
    if (waiting_.empty())
        return std::nullopt;
    // Handed over at once: no job arriving before the next one runs may jump the queue.
    Waiter next = std::move(waiting_.front());
    waiting_.pop_front();
    owner_ = next.name;
    return next;
}

std::vector<DomainJob::Waiter> DomainJob::expired(std::int64_t nowMs, std::int64_t timeoutMs)
{
    std::vector<Waiter> out;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (nowMs - it->sinceMs >= timeoutMs) {
            out.push_back(std::move(*it));
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

std::vector<DomainJob::Waiter> DomainJob::drain()
{
    std::vector<Waiter> out(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(waiting_.end()));
    waiting_.clear();
    return out;
}

}  // namespace mica::domain
