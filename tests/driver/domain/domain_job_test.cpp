// The per-domain job lock: one holder, waiters in order, hand-over without a gap, time
// limits and a domain that goes away. Pure logic (the manager runs it on its loop).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "DomainJob.h"

using mica::domain::DomainJob;

namespace {

DomainJob::Waiter waiter(const std::string& name, std::vector<std::string>& log, std::int64_t since = 0)
{
    DomainJob::Waiter w;
    w.name = name;
    w.sinceMs = since;
    w.run = [&log, name] { log.push_back("run " + name); };
    w.refuse = [&log, name](const mica::rpc::RemoteError&) { log.push_back("refuse " + name); };
    return w;
}

}  // namespace

TEST(DomainJob, FirstRunsOthersWaitInOrder)
{
    DomainJob job;
    std::vector<std::string> log;
    auto first = job.acquire(waiter("start", log));
    ASSERT_TRUE(first);
    EXPECT_TRUE(job.busy());
    EXPECT_EQ(job.owner(), "start");
    EXPECT_FALSE(job.acquire(waiter("suspend", log)));
    EXPECT_FALSE(job.acquire(waiter("resume", log)));

    auto next = job.release();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->name, "suspend");
    // Handed over: the lock is never free between two jobs, so a newcomer queues.
    EXPECT_TRUE(job.busy());
    EXPECT_EQ(job.owner(), "suspend");
    EXPECT_FALSE(job.acquire(waiter("destroy-like newcomer", log)));
    EXPECT_EQ(job.release()->name, "resume");
    EXPECT_EQ(job.release()->name, "destroy-like newcomer");
    EXPECT_FALSE(job.release());
    EXPECT_FALSE(job.busy());
    EXPECT_TRUE(job.acquire(waiter("again", log)));
}

TEST(DomainJob, WaitersGiveUpAfterTheLimit)
{
    DomainJob job;
    std::vector<std::string> log;
    job.acquire(waiter("suspend", log, 0));
    job.acquire(waiter("old", log, 1000));
    job.acquire(waiter("young", log, 20000));
    auto gone = job.expired(31000, 30000);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].name, "old");
    EXPECT_EQ(job.owner(), "suspend");   // the holder is not a waiter
    EXPECT_EQ(job.release()->name, "young");
}

TEST(DomainJob, DrainHandsBackEveryWaiter)
{
    DomainJob job;
    std::vector<std::string> log;
    job.acquire(waiter("a", log));
    job.acquire(waiter("b", log));
    job.acquire(waiter("c", log));
    auto all = job.drain();
    ASSERT_EQ(all.size(), 2u);
    for (auto& w : all)
        w.refuse({});
    EXPECT_EQ(log, (std::vector<std::string>{"refuse b", "refuse c"}));
    EXPECT_FALSE(job.release());
}
