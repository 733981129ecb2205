#include "VcpuThread.h"

#include <sched.h>

#include <csignal>

#include "Error.h"
#include "KvmState.h"
#include "Seccomp.h"
#include "i18n.h"

namespace mica::vcpu {

namespace {

// Sent to a vCPU thread to make KVM_RUN return; its handler does nothing on purpose.
const int kKickSignal = SIGUSR2;

// The host CPUs the process started on: where a vCPU not named in cpus.affinity runs,
// whatever its parent thread was since moved to (libvirt's emulatorpin moves the VMM's
// other threads, and vCPU threads start from one of them).
cpu_set_t gStartCpus;

// Always the calling thread (pid 0): the vCPU filter allows nothing else.
void pinThisThread(const cpu_set_t& set, const std::string& who, const std::string& list)
{
    if (::sched_setaffinity(0, sizeof set, &set) < 0)
        throw Error(who + ": " + _("cannot run on host CPUs ") + list + ": " + std::strerror(errno));
}

void pinThisThread(const std::vector<unsigned>& hostCpus, const std::string& who)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    std::string list;
    for (unsigned cpu : hostCpus) {
        CPU_SET(cpu, &set);
        list += (list.empty() ? "" : ",") + std::to_string(cpu);
    }
    pinThisThread(set, who, list);
}

}  // namespace

void installVcpuKickHandler()
{
    struct sigaction action{};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kKickSignal, &action, nullptr);
}

void rememberStartCpus()
{
    CPU_ZERO(&gStartCpus);
    if (::sched_getaffinity(0, sizeof gStartCpus, &gStartCpus) < 0)
        for (unsigned c = 0; c < CPU_SETSIZE; ++c)
            CPU_SET(c, &gStartCpus);
}

VcpuThread::VcpuThread(std::unique_ptr<kvm::Vcpu> vcpu, const VcpuHooks& hooks, std::optional<std::vector<unsigned>> pin,
                       const std::vector<uint32_t>& msrIndices)
    : name_("vcpu" + std::to_string(vcpu->id())),
      vcpu_(std::move(vcpu)),
      hooks_(hooks),
      msrIndices_(msrIndices),
      channel_(name_, [this] { kick(); })
{
    thread_ = std::thread([this, pin = std::move(pin)]() mutable { main(std::move(pin)); });
    handle_ = thread_.native_handle();
}

VcpuThread::~VcpuThread()
{
    join();
}

void VcpuThread::join()
{
    send(VcpuCommand::Kind::Stop);
    if (thread_.joinable())
        thread_.join();
}

// With the channel's lock held: the thread has not closed its channel, so it is alive.
void VcpuThread::kick()
{
    // immediate_exit covers a thread about to enter KVM_RUN; the signal one inside it.
    vcpu_->setImmediateExit(true);
    pthread_kill(handle_, kKickSignal);
}

void VcpuThread::main(std::optional<std::vector<unsigned>> pin)
{
    pthread_setname_np(pthread_self(), name_.c_str());
    try {
        // Before its own filter: every boot's vCPU threads start where the config says.
        if (pin)
            pinThisThread(*pin, name_);
        else
            pinThisThread(gStartCpus, name_, "the VMM's own");
        applySeccomp(ThreadRole::Vcpu);
        seccompSelfTestPoint(ThreadRole::Vcpu);
    } catch (const std::exception& e) {
        setupError_ = name_ + ": " + e.what();
    }
    bool running = false;
    for (;;) {
        // Cleared before looking at the queue: a command sent after this sets it again,
        // and one sent before is in the queue.
        vcpu_->setImmediateExit(false);
        while (auto command = channel_.receive(!running)) {
            if (command->kind == VcpuCommand::Kind::Stop) {
                channel_.close();
                command->reply.set_value(nullptr);
                return;
            }
            running = serve(*command, running);
        }
        try {
            if (vcpu_->run())
                hooks_.handleExit(*vcpu_);
        } catch (const std::exception& e) {
            failed_ = true;
            running = false;
            hooks_.fail(name_ + ": " + e.what());
        }
    }
}

bool VcpuThread::serve(VcpuCommand& command, bool running)
{
    try {
        nlohmann::json answer;
        switch (command.kind) {
        case VcpuCommand::Kind::Run:
            if (setupError_ && !failed_) {
                failed_ = true;
                hooks_.fail(*setupError_);
            }
            running = !failed_;
            break;
        case VcpuCommand::Kind::Pause:
            // Out of KVM_RUN already (the kick): tell the guest's kvmclock it was stopped,
            // so its soft-lockup watchdog does not fire when it goes on.
            running = false;
            vcpu_->kvmclockCtrl();
            break;
        case VcpuCommand::Kind::SaveState:
            answer = x86::saveVcpu(*vcpu_, msrIndices_);
            break;
        case VcpuCommand::Kind::RestoreState:
            x86::restoreVcpu(*vcpu_, command.state);
            break;
        case VcpuCommand::Kind::SetAffinity:
            pinThisThread(command.hostCpus, name_);
            break;
        case VcpuCommand::Kind::InjectNmi:
            vcpu_->injectNmi();
            break;
        case VcpuCommand::Kind::Stop:  // main() ends the thread on it
            break;
        }
        command.reply.set_value(std::move(answer));
    } catch (...) {
        command.reply.set_exception(std::current_exception());
    }
    return running;
}

}  // namespace mica::vcpu
