// The cap on memory held by the readers of all clients together (bytes of messages
// still arriving): past it the server stops reading, so a crowd of clients each
// sending large messages slows down instead of exhausting the host. Pure bookkeeping,
// no I/O, so it is testable without sockets.
//
// Stopping every reader at the cap could deadlock: if every client is half-way
// through a large message, none can finish and nothing is freed. So, over the cap:
//   - the clients holding the biggest partial large messages (at most `continuing` of
//     them) go on reading: each can grow only to its message's end (32 MiB), then the
//     message is handled and its memory freed, which lets the next one in;
//   - a client not in the middle of a large message goes on reading too: small calls
//     (virsh list, keepalive) always flow, and what such a read can add is one read
//     buffer (64 KiB) per client before that client counts as growing;
//   - the other clients with a partial large message wait, holding what they have.
// The set of continuing clients only changes when one of them finishes or leaves (the
// others do not grow meanwhile), so nobody is starved by reshuffling. A continuing
// client that stalls keeps its place; the bytes it holds were sent, and it loses them
// by disconnecting or by keepalive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>

namespace mica::rpc {

class InputBudget {
public:
    explicit InputBudget(std::size_t capBytes, std::size_t continuing = 4)
        : cap_(capBytes), continuing_(continuing) {}

    // A client's reader now holds `held` bytes; `growing`: it is half-way through a
    // large message. Returns true when clients refused reading before may now read
    // (the caller re-arms them).
    bool update(std::uint64_t id, std::size_t held, bool growing);
    bool remove(std::uint64_t id);

    bool mayRead(std::uint64_t id) const;
    bool over() const { return held_ >= cap_; }
    std::size_t held() const { return held_; }
    std::size_t cap() const { return cap_; }
    const std::set<std::uint64_t>& continuing() const { return chosen_; }

private:
    struct Entry {
        std::size_t held = 0;
        bool growing = false;
    };
    bool refill();   // over the cap: fill the continuing set with the biggest growers
    std::size_t cap_;
    std::size_t continuing_;
    std::size_t held_ = 0;
    std::map<std::uint64_t, Entry> entries_;
    std::set<std::uint64_t> chosen_;
};

}  // namespace mica::rpc
