// Server-side keepalive of one client (libvirt's virKeepAlive, as libvirtd runs it):
// after `interval` of silence, PING; again every `interval` while it stays silent; after
// `count` unanswered PINGs the peer is dead and its connection is dropped. Any packet
// from the peer counts as an answer. Pure logic on a millisecond clock, so tests can
// drive it without waiting.
#pragma once

#include <cstdint>

namespace mica::rpc {

class Keepalive {
public:
    enum class Action { None, Ping, Drop };

    Keepalive(std::int64_t intervalMs, int count) : intervalMs_(intervalMs), count_(count) {}

    // Pings start only once the client showed it understands them (feature 10).
    void start(std::int64_t nowMs);
    bool started() const { return started_; }
    void onReceive(std::int64_t nowMs);
    Action tick(std::int64_t nowMs);

private:
    std::int64_t intervalMs_;
    int count_;
    bool started_ = false;
    std::int64_t lastReceiveMs_ = 0;
    int unanswered_ = 0;
};

}  // namespace mica::rpc
