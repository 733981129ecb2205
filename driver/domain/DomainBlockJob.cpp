// Block jobs on a running disk: virsh blockcommit --active (the VMM copies the disk's top
// into an image of its chain while mirroring the guest's writes there: vm.block-commit),
// blockjob --info (vm.block-job), blockjob --pivot (the base becomes the disk's image:
// vm.block-job-complete) and --abort (vm.block-job-cancel); the VMM's job events become
// libvirt's BLOCK_JOB and BLOCK_JOB_2 events, which virsh blockcommit --wait waits on.
// After a pivot the definitions show the base over the shortened chain.
#include <fcntl.h>
#include <libvirt/libvirt.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "ConfError.h"
#include "CrashPoint.h"
#include "DiskImages.h"
#include "DomainManager.h"
#include "Error.h"
#include "ManagerSupport.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// The VMM's block job events, as libvirt's virConnectDomainEventBlockJobStatus.
struct JobEvent {
    const char* vmm;
    int status;
};
constexpr JobEvent kJobEvents[] = {
    {"block-job-ready", VIR_DOMAIN_BLOCK_JOB_READY},
    {"block-job-completed", VIR_DOMAIN_BLOCK_JOB_COMPLETED},
    {"block-job-cancelled", VIR_DOMAIN_BLOCK_JOB_CANCELED},
    {"block-job-failed", VIR_DOMAIN_BLOCK_JOB_FAILED},
};

const conf::DiskDef& liveDisk(const Domain& d, const std::string& disk)
{
    if (const conf::DiskDef* dd = diskByName(d.live, disk))
        return *dd;
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("invalid path %1 not assigned to domain"), {disk}));
}

}  // namespace

void DomainManager::switchDiskImage(Domain& d, const std::string& target, const conf::BackingStoreDef& top,
                                    std::vector<conf::BackingStoreDef> chain)
{
    conf::DiskDef* live = diskByName(d.live, target);
    if (!live)
        return;
    std::string old = live->source;
    live->type = top.type == conf::BackingStoreDef::Type::Block ? conf::DiskDef::Type::Block : conf::DiskDef::Type::File;
    live->source = top.path;
    live->format = top.format;
    live->backingChain = std::move(chain);
    saveStatus(d);
    store_.note(d.def.name, "disk " + target + ": its image is now " + top.path + " (was " + old + ")");
    if (!d.persistent)
        return;
    const conf::DiskDef* kept = nullptr;
    for (const auto& disk : d.persistentDef().disks)
        if (disk.target == target)
            kept = &disk;
    if (!kept || kept->source != old)
        return;
    editDefinition(d, [&](conf::DomainDef& def) {
        for (auto& disk : def.disks)
            if (disk.target == target) {
                disk.type = live->type;
                disk.source = top.path;
                disk.format = top.format;
            }
    });
}

void DomainManager::blockCommit(const rpc::DomainRef& dom, const std::string& disk,
                                const std::optional<std::string>& base, const std::optional<std::string>& top,
                                std::uint64_t bandwidth, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_BLOCK_COMMIT_SHALLOW | VIR_DOMAIN_BLOCK_COMMIT_DELETE | VIR_DOMAIN_BLOCK_COMMIT_ACTIVE |
                          VIR_DOMAIN_BLOCK_COMMIT_RELATIVE | VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES);
    Domain& d = running(dom);
    const conf::DiskDef& dd = liveDisk(d, disk);
    if (flags & VIR_DOMAIN_BLOCK_COMMIT_DELETE)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("deleting the committed images (--delete) is not supported by mica"));
    if (flags & VIR_DOMAIN_BLOCK_COMMIT_RELATIVE)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("relative backing names (--keep-relative) are not supported by mica"));
    if (bandwidth)
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("a commit runs at the speed the host allows: bandwidth limits are not supported by mica"));
    const auto chain = dd.backingChain.value_or(std::vector<conf::BackingStoreDef>{});
    auto inChain = [&](const std::string& path) {
        return std::find_if(chain.begin(), chain.end(), [&](const auto& l) { return l.path == path; });
    };
    if (top && *top != dd.source && *top != dd.target) {
        if (inChain(*top) == chain.end())
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("could not find image '%1' in chain for '%2'"), {*top, dd.target}));
        fail(VIR_ERR_OPERATION_UNSUPPORTED,
             conf::subst(_("disk '%1': committing an image below the disk's top is not supported by mica: only an "
                           "active commit of the top (--active)"), {dd.target}));
    }
    if (!(flags & VIR_DOMAIN_BLOCK_COMMIT_ACTIVE))
        fail(VIR_ERR_INVALID_ARG, conf::subst(_("commit of '%1' active layer requires active flag"), {dd.target}));
    if (chain.empty())
        fail(VIR_ERR_INVALID_ARG, conf::subst(_("top '%1' in chain for '%2' has no backing file"), {dd.source, dd.target}));
    // libvirt's default base is the chain's bottom; --shallow takes the image right below.
    conf::BackingStoreDef baseLink = flags & VIR_DOMAIN_BLOCK_COMMIT_SHALLOW ? chain.front() : chain.back();
    if (base) {
        auto it = inChain(*base);
        if (it == chain.end())
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("could not find base image '%1' in chain for '%2'"), {*base, dd.target}));
        if ((flags & VIR_DOMAIN_BLOCK_COMMIT_SHALLOW) && it != chain.begin())
            fail(VIR_ERR_INVALID_ARG, conf::subst(_("base '%1' is not immediately below the top of '%2' (--shallow)"),
                                                  {*base, dd.target}));
        baseLink = *it;
    }
    if (d.blockJobs.count(dd.target))
        fail(VIR_ERR_BLOCK_COPY_ACTIVE, conf::subst(_("disk '%1' already in active block job"), {dd.target}));
    std::string target = dd.target, uuid = d.def.uuid;
    // The job's record exists from before the VMM starts it (its ready event may come
    // before the answer) and goes when the start fails.
    JobDone answer = [this, uuid, target, done](JobOutcome o) {
        if (o.error)
            if (auto it = domains_.find(uuid); it != domains_.end())
                it->second->blockJobs.erase(target);
        done(std::move(o));
    };
    runJob(d, "block commit", [this, target, baseLink](Domain& x) {
        if (!x.active())
            fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
        if (x.blockJobs.count(target))
            fail(VIR_ERR_BLOCK_COPY_ACTIVE, conf::subst(_("disk '%1' already in active block job"), {target}));
        // The base was handed to the VMM read-only: the daemon opens it for writing (a
        // confined VMM could not).
        auto fd = std::make_shared<UniqueFd>(::open(baseLink.path.c_str(), O_RDWR | O_CLOEXEC));
        if (!*fd)
            fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {target, systemError(baseLink.path).what()}));
        x.blockJobs[target] = BlockJob{baseLink, false};
        store_.note(x.def.name, "disk " + target + ": active commit into " + baseLink.path);
        vmmJob(x, "vm.block-commit", [](Domain&) {}, nlohmann::json{{"id", target}, {"base", baseLink.path}, {"base_fd", 0}},
               {fd});
    }, std::move(answer));
}

void DomainManager::commitLive(const std::string& socket, const std::string& target, const std::string& base)
{
    UniqueFd fd(::open(base.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd)
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': %2"), {target, systemError(base).what()}));
    auto call = [&](const char* method, const char* endpoint, const std::optional<nlohmann::json>& body,
                    const std::vector<int>& fds = {}) {
        auto r = process::vmmRequest(socket, method, endpoint, body, process::kVmmCallMs, fds);
        if (!r.ok())
            fail(r.status == 409 ? VIR_ERR_OPERATION_INVALID : VIR_ERR_OPERATION_FAILED,
                 conf::subst(_("disk '%1': %2: %3"), {target, endpoint, r.errorText()}));
        return r.body;
    };
    call("PUT", "vm.block-commit", nlohmann::json{{"id", target}, {"base", base}, {"base_fd", 0}}, {fd.get()});
    // Ready once one pass over the disk is done (the guest's writes are mirrored meanwhile).
    for (bool ready = false; !ready;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto jobs = call("GET", "vm.block-job", std::nullopt);
        bool found = false;
        for (const auto& job : jobs.is_array() ? jobs : nlohmann::json::array())
            if (job.is_object() && job.value("id", "") == target) {
                found = true;
                if (job.contains("error") && job["error"].is_string())
                    fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': the commit failed: %2"),
                                                               {target, job["error"].get<std::string>()}));
                ready = job.value("ready", false);
            }
        if (!found)
            fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': the commit job is gone"), {target}));
    }
    call("PUT", "vm.block-job-complete", nlohmann::json{{"id", target}});
}

void DomainManager::blockJobInfo(const rpc::DomainRef& dom, const std::string& disk, unsigned flags,
                                 std::function<void(std::optional<rpc::RemoteError>, BlockJobInfo)> done)
{
    checkFlags(flags, VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES);
    Domain& d = running(dom);
    std::string target = liveDisk(d, disk).target;
    if (!d.blockJobs.count(target)) {
        done(std::nullopt, {});
        return;
    }
    std::uint64_t ticket = nextTicket_++;
    pendingJobInfo_[ticket] = std::move(done);
    pool_.run([this, ticket, target, socket = d.apiSocket, timeout = options_.countersTimeoutMs]() -> std::function<void()> {
        std::optional<rpc::RemoteError> err;
        BlockJobInfo info;
        try {
            auto r = process::vmmRequest(socket, "GET", "vm.block-job", std::nullopt, timeout);
            if (!r.ok())
                throw std::runtime_error(r.errorText());
            if (r.body.is_array())
                for (const auto& job : r.body)
                    if (job.is_object() && job.value("id", "") == target && !job.contains("error")) {
                        info.found = true;
                        info.type = VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT;
                        info.cur = job.value("cur", std::uint64_t{0});
                        info.end = job.value("end", std::uint64_t{0});
                    }
        } catch (const std::exception& e) {
            err = error(VIR_ERR_OPERATION_FAILED, e.what()).error();
        }
        return [this, ticket, err, info] {
            auto it = pendingJobInfo_.find(ticket);
            if (it == pendingJobInfo_.end())
                return;
            auto answer = std::move(it->second);
            pendingJobInfo_.erase(it);
            answer(err, info);
        };
    });
}

void DomainManager::blockJobAbort(const rpc::DomainRef& dom, const std::string& disk, unsigned flags, JobDone done)
{
    checkFlags(flags, VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC | VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT);
    Domain& d = running(dom);
    std::string target = liveDisk(d, disk).target;
    bool pivot = flags & VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT;
    auto check = [target, pivot](const Domain& x) {
        auto it = x.blockJobs.find(target);
        if (it == x.blockJobs.end())
            fail(VIR_ERR_OPERATION_INVALID, conf::subst(_("disk '%1' does not have an active block job"), {target}));
        if (pivot && !it->second.ready)
            fail(VIR_ERR_BLOCK_COPY_ACTIVE, conf::subst(_("disk '%1' not ready for pivot yet"), {target}));
    };
    check(d);
    runJob(d, pivot ? "block job pivot" : "block job abort", [this, target, pivot, check](Domain& x) {
        if (!x.active())
            fail(VIR_ERR_OPERATION_INVALID, _("domain is not running"));
        check(x);
        if (!pivot) {
            vmmJob(x, "vm.block-job-cancel", [target](Domain& y) { y.blockJobs.erase(target); },
                   nlohmann::json{{"id", target}});
            return;
        }
        // The pivot, then what the VMM now runs the disk on (its vm.info), so that the
        // definitions follow the VMM whatever base the job had.
        pool_.run([this, target, socket = x.apiSocket, uuid = x.def.uuid, serial = x.serial,
                   incarnation = x.incarnation]() -> std::function<void()> {
            std::optional<rpc::RemoteError> err;
            std::optional<std::pair<std::string, std::string>> image;
            try {
                auto r = process::vmmRequest(socket, "PUT", "vm.block-job-complete", nlohmann::json{{"id", target}});
                if (!r.ok())
                    err = error(r.status == 409 ? VIR_ERR_OPERATION_INVALID : VIR_ERR_OPERATION_FAILED, r.errorText())
                              .error();
                else
                    image = vmmDiskImage(process::vmmRequest(socket, "GET", "vm.info").body, target);
            } catch (const std::exception& e) {
                err = error(VIR_ERR_OPERATION_FAILED, e.what()).error();
            }
            return [this, target, uuid, serial, incarnation, err, image] {
                Domain* d = findLive(uuid, serial);
                if (!d || !d->jobDone)
                    return;
                if (d->incarnation != incarnation || !d->active()) {
                    finishJob(*d, {error(VIR_ERR_OPERATION_INVALID, _("domain is not running")).error(), {}});
                    return;
                }
                if (err) {
                    finishJob(*d, {err, {}});
                    return;
                }
                try {
                    process::crashPoint("pivot-done");
                    onPivoted(*d, target, image);
                    finishJob(*d, {std::nullopt, ref(*d)});
                } catch (...) {
                    finishJob(*d, {remoteError(std::current_exception()), {}});
                }
            };
        });
    }, std::move(done));
}

void DomainManager::onPivoted(Domain& d, const std::string& target,
                              const std::optional<std::pair<std::string, std::string>>& image)
{
    auto job = d.blockJobs.find(target);
    const conf::DiskDef* disk = diskByName(d.live, target);
    if (!disk)
        return;
    conf::BackingStoreDef top;
    if (image) {
        auto format = conf::diskFormatFromName(image->second);
        if (!format)
            fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': the VMM runs it on an image of format %2"),
                                                       {target, image->second}));
        top = {conf::BackingStoreDef::Type::File, *format, image->first};
    } else if (job != d.blockJobs.end()) {
        top = job->second.base;
    } else {
        fail(VIR_ERR_OPERATION_FAILED, conf::subst(_("disk '%1': the VMM did not say which image it runs"), {target}));
    }
    // The chain below the base: what the old chain had there (as read when it started).
    auto chain = disk->backingChain.value_or(std::vector<conf::BackingStoreDef>{});
    auto at = std::find_if(chain.begin(), chain.end(), [&](const auto& l) { return l.path == top.path; });
    if (at != chain.end())
        top.type = at->type;
    std::vector<conf::BackingStoreDef> below(at == chain.end() ? chain.end() : at + 1, chain.end());
    if (job != d.blockJobs.end())
        d.blockJobs.erase(job);
    switchDiskImage(d, target, top, std::move(below));
}

void DomainManager::onBlockJobEvent(Domain& d, const std::string& event, const nlohmann::json& properties)
{
    if (!properties.is_object() || !properties.contains("id") || !properties["id"].is_string())
        return;
    std::string id = properties["id"].get<std::string>();
    auto known = std::find_if(std::begin(kJobEvents), std::end(kJobEvents), [&](const JobEvent& e) { return event == e.vmm; });
    if (known == std::end(kJobEvents))
        return;
    auto job = d.blockJobs.find(id);
    if (job != d.blockJobs.end()) {
        if (known->status == VIR_DOMAIN_BLOCK_JOB_READY)
            job->second.ready = true;
        // A pivot's record goes when its answer is applied (onPivoted), which needs it.
        if (known->status == VIR_DOMAIN_BLOCK_JOB_CANCELED || known->status == VIR_DOMAIN_BLOCK_JOB_FAILED)
            d.blockJobs.erase(job);
    }
    std::string why = properties.contains("error") && properties["error"].is_string()
                          ? ": " + properties["error"].get<std::string>() : std::string();
    store_.note(d.def.name, "disk " + id + ": " + event + why);
    const conf::DiskDef* disk = diskByName(d.live, id);
    if (hooks_.blockJob)
        hooks_.blockJob(ref(d), disk ? disk->source : id, id, VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT, known->status);
}

void DomainManager::reconcileDisks(Domain& d, const nlohmann::json& vmInfo)
{
    std::vector<std::string> targets;
    for (const auto& disk : d.live.disks)
        targets.push_back(disk.target);
    for (const auto& target : targets) {
        const conf::DiskDef* disk = diskByName(d.live, target);
        auto image = vmmDiskImage(vmInfo, target);
        if (!disk || !image || image->first == disk->source)
            continue;
        auto format = conf::diskFormatFromName(image->second);
        if (!format)
            continue;
        conf::DiskDef now = *disk;
        now.source = image->first;
        now.format = *format;
        now.type = conf::DiskDef::Type::File;
        std::vector<conf::BackingStoreDef> chain;
        try {
            chain = readBackingChain(now);
        } catch (const std::exception& e) {
            store_.note(d.def.name, std::string("disk ") + target + ": " + e.what());
        }
        try {
            switchDiskImage(d, target, {conf::BackingStoreDef::Type::File, *format, image->first}, std::move(chain));
        } catch (const std::exception& e) {
            store_.note(d.def.name, std::string("disk ") + target + ": " + e.what());
        }
    }
    // Jobs the last daemon started: kept, so that they can be watched, pivoted, aborted.
    try {
        auto r = process::vmmRequest(d.apiSocket, "GET", "vm.block-job", std::nullopt, options_.countersTimeoutMs);
        if (r.ok() && r.body.is_array())
            for (const auto& job : r.body)
                if (job.is_object() && job.contains("id") && job["id"].is_string() && !job.contains("error")) {
                    const conf::DiskDef* disk = diskByName(d.live, job["id"].get<std::string>());
                    if (disk && disk->backingChain && !disk->backingChain->empty())
                        d.blockJobs[disk->target] = BlockJob{disk->backingChain->back(), job.value("ready", false)};
                }
    } catch (const std::exception& e) {
        store_.note(d.def.name, std::string("block jobs unknown: ") + e.what());
    }
}

}  // namespace mica::domain
