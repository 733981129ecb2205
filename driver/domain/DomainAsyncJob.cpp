// virsh domjobinfo and domjobabort: the async job of a domain (AsyncJob.h) as libvirt's
// job statistics, and its abort. Both run on the loop thread beside the job, which holds
// the domain's job lock on a worker thread meanwhile: a query takes no lock, and an abort
// must not wait for the job it stops.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>

#include "DomainManager.h"
#include "ManagerSupport.h"
#include "i18n.h"

namespace mica::domain {

JobStats jobStatsOf(AsyncJob& job, int type)
{
    JobStats s;
    s.type = type;
    s.operation = job.operation;
    s.elapsedMs = static_cast<std::uint64_t>(std::max<std::int64_t>(0, rpc::EventLoop::nowMs() - job.startedMs));
    s.total = job.total;
    s.processed = job.processed;
    if (job.vmmWriting) {
        std::lock_guard lock(job.fileMutex);
        struct stat st{};
        if (!job.vmmFile.empty() && ::stat(job.vmmFile.c_str(), &st) == 0)
            s.processed += std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_blocks) * 512, job.total / 2);
    }
    s.processed = std::min(s.processed, s.total);
    return s;
}

JobStats DomainManager::jobStats(const rpc::DomainRef& dom, unsigned flags) const
{
    checkFlags(flags, VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED);
    Domain& d = find(dom);
    if (flags & VIR_DOMAIN_JOB_STATS_COMPLETED)
        return d.lastJob.value_or(JobStats{});
    if (!d.asyncJob)
        return JobStats{};
    return jobStatsOf(*d.asyncJob, VIR_DOMAIN_JOB_UNBOUNDED);
}

void DomainManager::abortJob(const rpc::DomainRef& dom)
{
    Domain& d = find(dom);
    if (!d.asyncJob)
        fail(VIR_ERR_OPERATION_INVALID, _("no job is active on the domain"));
    d.asyncJob->abort = true;
    // The VMM writing RAM stops at its next 64 MiB (SIGUSR1); otherwise the job stops at
    // its next step.
    if (d.asyncJob->vmmWriting && d.vmm)
        d.vmm->kill(SIGUSR1);
    store_.note(d.def.name, "job aborted by a client");
}

}  // namespace mica::domain
