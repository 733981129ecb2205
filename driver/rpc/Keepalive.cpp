#include "Keepalive.h"

namespace mica::rpc {

void Keepalive::start(std::int64_t nowMs)
{
    if (intervalMs_ <= 0 || count_ <= 0)
        return;   // disabled by configuration
    started_ = true;
    lastReceiveMs_ = nowMs;
    unanswered_ = 0;
}

void Keepalive::onReceive(std::int64_t nowMs)
{
    lastReceiveMs_ = nowMs;
    unanswered_ = 0;
}

Keepalive::Action Keepalive::tick(std::int64_t nowMs)
{
    if (!started_)
        return Action::None;
    if (nowMs - lastReceiveMs_ < intervalMs_ * (unanswered_ + 1))
        return Action::None;
    if (unanswered_ >= count_)
        return Action::Drop;
    ++unanswered_;
    return Action::Ping;
}

}  // namespace mica::rpc
