// The vCPU command channel without KVM: a thread plays the vCPU thread.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "Error.h"
#include "VcpuChannel.h"

using namespace mica;
using namespace mica::vcpu;
using Kind = VcpuCommand::Kind;

TEST(VcpuChannel, KicksOncePerCommandAndKeepsOrder)
{
    int kicks = 0;
    VcpuChannel channel("vcpu0", [&] { ++kicks; });
    auto run = channel.send(Kind::Run);
    auto pause = channel.send(Kind::Pause);
    EXPECT_EQ(kicks, 2);
    auto first = channel.receive(false);
    auto second = channel.receive(false);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->kind, Kind::Run);
    EXPECT_EQ(second->kind, Kind::Pause);
    EXPECT_FALSE(channel.receive(false));  // nothing queued: back into the guest
}

TEST(VcpuChannel, CarriesArgumentsAndAnswers)
{
    VcpuChannel channel("vcpu1", [] {});
    auto restore = channel.send(Kind::RestoreState, nlohmann::json{{"id", 1}});
    auto pin = channel.send(Kind::SetAffinity, nullptr, {2, 3});
    auto save = channel.send(Kind::SaveState);
    auto r = channel.receive(false);
    EXPECT_EQ(r->state["id"], 1);
    r->reply.set_value(nullptr);
    auto p = channel.receive(false);
    EXPECT_EQ(p->hostCpus, (std::vector<unsigned>{2, 3}));
    p->reply.set_exception(std::make_exception_ptr(Error("vcpu1: cannot run on host CPUs 2,3")));
    auto s = channel.receive(false);
    s->reply.set_value(nlohmann::json{{"regs", "AAAA"}});
    EXPECT_TRUE(restore.get().is_null());
    EXPECT_THROW(pin.get(), Error);
    EXPECT_EQ(save.get()["regs"], "AAAA");
}

// The sender waits for the answer while the vCPU thread, idle, waits for the command.
TEST(VcpuChannel, WaitingThreadServesCommands)
{
    std::atomic<int> kicks = 0;
    VcpuChannel channel("vcpu0", [&] { ++kicks; });
    std::thread vcpu([&] {
        for (;;) {
            auto command = channel.receive(true);
            bool stop = command->kind == Kind::Stop;
            if (stop)
                channel.close();
            command->reply.set_value(stop ? nlohmann::json() : nlohmann::json(static_cast<int>(command->kind)));
            if (stop)
                return;
        }
    });
    EXPECT_EQ(channel.send(Kind::Pause).get(), static_cast<int>(Kind::Pause));
    EXPECT_EQ(channel.send(Kind::Run).get(), static_cast<int>(Kind::Run));
    channel.send(Kind::Stop).get();
    vcpu.join();
    EXPECT_EQ(kicks, 3);
}

// Once the thread has gone, nobody may kick it; what needs it fails, the rest is done.
TEST(VcpuChannel, ClosedChannelAnswersItself)
{
    int kicks = 0;
    VcpuChannel channel("vcpu2", [&] { ++kicks; });
    auto queued = channel.send(Kind::SaveState);
    auto queuedPause = channel.send(Kind::Pause);
    channel.close();
    EXPECT_THROW(queued.get(), Error);
    EXPECT_TRUE(queuedPause.get().is_null());
    EXPECT_TRUE(channel.send(Kind::Pause).get().is_null());
    EXPECT_TRUE(channel.send(Kind::Run).get().is_null());
    EXPECT_TRUE(channel.send(Kind::Stop).get().is_null());
    try {
        channel.send(Kind::SetAffinity, nullptr, {0}).get();
        FAIL() << "SetAffinity on a stopped vCPU succeeded";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("vcpu2"), std::string::npos);
    }
    EXPECT_THROW(channel.send(Kind::RestoreState, nlohmann::json::object()).get(), Error);
    EXPECT_EQ(kicks, 2);  // only the two sent before close()
    EXPECT_FALSE(channel.receive(false));
}
