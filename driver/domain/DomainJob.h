// The job lock of one domain, in the manner of libvirt's virDomainObjBeginJob: jobs
// that change a domain (start, suspend, shutdown, undefine, ...) run one at a time per
// domain, in the order they came; queries take no job and read the domain's state as it
// is, so they never wait behind a VMM call. Everything here runs on the event loop
// thread: a job "holds" the lock from its start until its finish is called, possibly
// much later, after a worker thread's VMM call came back.
//
// A waiting job gives up after a while (libvirt: 30 s, "cannot acquire state change
// lock"), so a hung VMM does not pile up callers forever.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "RemoteTypes.h"

namespace mica::domain {

class DomainJob {
public:
    struct Waiter {
        std::string name;                                     // "start", "suspend": for messages
        std::function<void()> run;                            // now holds the lock
        std::function<void(const rpc::RemoteError&)> refuse;  // gave up waiting, or the domain went away
        std::int64_t sinceMs = 0;
    };

    bool busy() const { return owner_.has_value(); }
    const std::string& owner() const { static const std::string none; return owner_ ? *owner_ : none; }

    // Takes the lock now (returns the waiter to run) or queues it (returns nothing).
    std::optional<Waiter> acquire(Waiter w);
    // The job that held the lock ended: the lock passes to the next waiter, if any,
    // which the caller runs (from the loop's top level, not from inside the old job).
    std::optional<Waiter> release();
    // Waiters queued for longer than timeoutMs: they are removed and returned, to be refused.
    std::vector<Waiter> expired(std::int64_t nowMs, std::int64_t timeoutMs);
    // The domain is going away: every waiter, to be refused.
    std::vector<Waiter> drain();

private:
    std::optional<std::string> owner_;
    std::deque<Waiter> waiting_;
};

}  // namespace mica::domain
