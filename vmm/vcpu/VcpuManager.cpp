#include "VcpuManager.h"

#include "Error.h"
#include "i18n.h"

namespace mica::vcpu {

VcpuManager::VcpuManager(std::vector<std::unique_ptr<kvm::Vcpu>> vcpus, VcpuHooks hooks,
                         const std::map<unsigned, std::vector<unsigned>>& affinity, std::vector<uint32_t> msrIndices)
    : hooks_(std::move(hooks)), msrIndices_(std::move(msrIndices))
{
    for (auto& vcpu : vcpus) {
        std::optional<std::vector<unsigned>> pin;
        if (auto found = affinity.find(vcpu->id()); found != affinity.end())
            pin = found->second;
        threads_.push_back(std::make_unique<VcpuThread>(std::move(vcpu), hooks_, std::move(pin), msrIndices_));
    }
}

VcpuManager::~VcpuManager()
{
    stop();
}

std::vector<nlohmann::json> VcpuManager::broadcast(VcpuCommand::Kind kind, const nlohmann::json* states)
{
    std::vector<std::future<nlohmann::json>> answers;
    for (size_t i = 0; i < threads_.size(); ++i)
        answers.push_back(threads_[i]->send(kind, states ? (*states)[i] : nlohmann::json()));
    std::vector<nlohmann::json> results;
    std::exception_ptr first;
    for (auto& answer : answers) {
        try {
            results.push_back(answer.get());
        } catch (...) {
            if (!first)
                first = std::current_exception();
        }
    }
    if (first)
        std::rethrow_exception(first);
    return results;
}

void VcpuManager::run()
{
    broadcast(VcpuCommand::Kind::Run);
}

void VcpuManager::pause()
{
    broadcast(VcpuCommand::Kind::Pause);
}

nlohmann::json VcpuManager::saveStates()
{
    return broadcast(VcpuCommand::Kind::SaveState);
}

void VcpuManager::restoreStates(const nlohmann::json& states)
{
    broadcast(VcpuCommand::Kind::RestoreState, &states);
}

void VcpuManager::setAffinity(unsigned vcpu, const std::vector<unsigned>& hostCpus)
{
    if (vcpu >= threads_.size())
        throw Error(_("no vCPU ") + std::to_string(vcpu));
    threads_[vcpu]->send(VcpuCommand::Kind::SetAffinity, nullptr, hostCpus).get();
}

void VcpuManager::injectNmi()
{
    broadcast(VcpuCommand::Kind::InjectNmi);
}

void VcpuManager::requestStop()
{
    for (auto& thread : threads_)
        thread->send(VcpuCommand::Kind::Stop);
}

void VcpuManager::stop()
{
    requestStop();  // all at once, rather than one after the other's end
    for (auto& thread : threads_)
        thread->join();
}

}  // namespace mica::vcpu
