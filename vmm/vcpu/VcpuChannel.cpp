#include "VcpuChannel.h"

#include "Error.h"
#include "i18n.h"

namespace mica::vcpu {

std::future<nlohmann::json> VcpuChannel::send(VcpuCommand::Kind kind, nlohmann::json state,
                                              std::vector<unsigned> hostCpus)
{
    VcpuCommand command{kind, std::move(state), std::move(hostCpus), {}};
    auto answer = command.reply.get_future();
    std::lock_guard lock(mutex_);
    if (closed_) {
        answerStopped(command);
        return answer;
    }
    queue_.push_back(std::move(command));
    arrived_.notify_one();
    kick_();
    return answer;
}

std::optional<VcpuCommand> VcpuChannel::receive(bool wait)
{
    std::unique_lock lock(mutex_);
    if (wait)
        arrived_.wait(lock, [this] { return !queue_.empty(); });
    if (queue_.empty())
        return std::nullopt;
    VcpuCommand command = std::move(queue_.front());
    queue_.pop_front();
    return command;
}

void VcpuChannel::close()
{
    std::lock_guard lock(mutex_);
    closed_ = true;
    for (auto& command : queue_)
        answerStopped(command);
    queue_.clear();
}

void VcpuChannel::answerStopped(VcpuCommand& command) const
{
    switch (command.kind) {
    case VcpuCommand::Kind::Run:
    case VcpuCommand::Kind::Pause:
    case VcpuCommand::Kind::Stop:
        command.reply.set_value(nullptr);
        break;
    case VcpuCommand::Kind::SaveState:
    case VcpuCommand::Kind::RestoreState:
    case VcpuCommand::Kind::SetAffinity:
    case VcpuCommand::Kind::InjectNmi:
        command.reply.set_exception(std::make_exception_ptr(Error(who_ + _(" has stopped"))));
        break;
    }
}

}  // namespace mica::vcpu
