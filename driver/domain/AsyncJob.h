// A long job on a running domain that clients watch and may abort while it runs: libvirt's
// async job (virsh domjobinfo, domjobabort; Nova's jobStats and abortJob). Today that is a
// save (DomainSave.cpp): the VMM writes the guest's RAM into a snapshot directory, then the
// daemon copies it into the image. The worker thread doing the job moves `processed` on
// and checks `abort`; the loop thread answers queries and sets `abort`.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace mica::domain {

struct AsyncJob {
    int operation = 0;             // VIR_DOMAIN_JOB_OPERATION_*
    std::int64_t startedMs = 0;    // steady clock
    std::uint64_t total = 0;       // bytes to go through: the RAM, twice for a save
    std::atomic<std::uint64_t> processed{0};
    std::atomic<bool> abort{false};
    // While the VMM writes RAM: its memory file, whose allocated blocks say how far it is
    // (the VMM's call does not report progress); empty otherwise.
    std::mutex fileMutex;
    std::string vmmFile;
    std::atomic<bool> vmmWriting{false};   // the VMM is in vm.snapshot: an abort signals it
};

// What a query reports of a job: the running one, or the last one that ended.
struct JobStats {
    int type = 0;                  // VIR_DOMAIN_JOB_NONE, UNBOUNDED, COMPLETED, FAILED, CANCELLED
    int operation = 0;
    std::uint64_t elapsedMs = 0, total = 0, processed = 0;
};

// The job's figures now, as a job of `type` (DomainAsyncJob.cpp).
JobStats jobStatsOf(AsyncJob& job, int type);

}  // namespace mica::domain
