// DomainManager: statistics. Figures the daemon has (state, memory, vCPUs, the VMM
// process's CPU time and RSS from /proc) are answered at once; the VMM's own counters
// (disks, interfaces) are asked of every VMM concerned at once, on worker threads, and a
// VMM that does not answer within ManagerOptions::countersTimeoutMs is reported without
// them rather than holding the call.
#include "DomainManager.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <chrono>

#include "ConfError.h"
#include "DiskImages.h"
#include "ManagerSupport.h"
#include "VmmClient.h"
#include "i18n.h"

namespace mica::domain {

namespace {

std::int64_t counter(const nlohmann::json& group, const char* name)
{
    if (group.is_object() && group.contains(name) && group[name].is_number_unsigned())
        return static_cast<std::int64_t>(group[name].get<std::uint64_t>());
    return -1;
}

}  // namespace

void DomainManager::blockStats(const rpc::DomainRef& dom, const std::string& path,
                               std::function<void(BlockStats)> done)
{
    Domain& d = running(dom);
    for (const auto& disk : d.live.disks) {
        if (disk.target != path && disk.source != path)
            continue;
        std::string key = "disk:" + disk.target, uuid = d.def.uuid;
        withCounters({&d}, [key, uuid, done](Counters all) {
            nlohmann::json c = all[uuid].value(key, nlohmann::json::object());
            done({counter(c, "rd_reqs"), counter(c, "rd_bytes"), counter(c, "wr_reqs"), counter(c, "wr_bytes"),
                  counter(c, "errors")});
        });
        return;
    }
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("invalid path: %1"), {path}));
}

BlockInfo DomainManager::blockInfo(const rpc::DomainRef& dom, const std::string& path, unsigned flags) const
{
    checkFlags(flags, 0);
    const Domain& d = find(dom);
    // Read from the host whether the domain runs or not: the image's metadata and the
    // file's size and blocks say it all, and reading them locks nothing.
    if (const conf::DiskDef* disk = diskByName(d.active() ? d.live : d.persistentDef(), path))
        return readBlockInfo(*disk);
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("invalid path %1 not assigned to domain"), {path}));
}

void DomainManager::interfaceStats(const rpc::DomainRef& dom, const std::string& device,
                                   std::function<void(InterfaceStats)> done)
{
    Domain& d = running(dom);
    for (size_t i = 0; i < d.live.nets.size(); ++i) {
        const auto& net = d.live.nets[i];
        if (net.targetDev != device && net.mac != device)
            continue;
        std::string key = "net:" + net.alias, uuid = d.def.uuid;   // the VMM counts by device id
        withCounters({&d}, [key, uuid, done](Counters all) {
            nlohmann::json c = all[uuid].value(key, nlohmann::json::object());
            InterfaceStats s;
            s.rxBytes = counter(c, "rx_bytes");
            s.rxPackets = counter(c, "rx_packets");
            s.txBytes = counter(c, "tx_bytes");
            s.txPackets = counter(c, "tx_packets");
            s.txDrop = counter(c, "tx_drops");
            done(s);
        });
        return;
    }
    fail(VIR_ERR_INVALID_ARG, conf::subst(_("invalid path, '%1' is not a known interface"), {device}));
}

std::vector<std::pair<int, std::uint64_t>> DomainManager::memoryStats(const rpc::DomainRef& dom) const
{
    Domain& d = running(dom);
    return {{VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, d.live.currentMemoryKiB},
            {VIR_DOMAIN_MEMORY_STAT_RSS, d.vmm->rssKiB()}};
}

process::VmmProcess::CpuTimes DomainManager::cpuTimes(const rpc::DomainRef& dom) const
{
    return running(dom).vmm->cpuTimes();
}

std::vector<rpc::TypedParam> DomainManager::statsOf(const Domain& d, unsigned groups,
                                                    const nlohmann::json& c) const
{
    std::vector<rpc::TypedParam> p;
    auto u64 = [&p](std::string key, std::uint64_t v) { p.push_back({std::move(key), v}); };
    auto u32 = [&p](std::string key, unsigned v) { p.push_back({std::move(key), std::uint32_t(v)}); };
    const conf::DomainDef& def = d.active() ? d.live : d.def;
    if (groups & VIR_DOMAIN_STATS_STATE) {
        p.push_back({"state.state", std::int32_t(d.state)});
        p.push_back({"state.reason", std::int32_t(d.reason)});
    }
    if ((groups & VIR_DOMAIN_STATS_CPU_TOTAL) && d.vmm) {
        auto t = d.vmm->cpuTimes();
        u64("cpu.time", t.totalNs());
        u64("cpu.user", t.userNs);
        u64("cpu.system", t.systemNs);
    }
    if (groups & VIR_DOMAIN_STATS_BALLOON) {
        u64("balloon.current", d.active() ? def.currentMemoryKiB : def.memoryKiB);
        u64("balloon.maximum", def.memoryKiB);
    }
    if (groups & VIR_DOMAIN_STATS_VCPU) {
        u32("vcpu.current", def.vcpusCurrent);
        u32("vcpu.maximum", def.vcpusMax);
    }
    auto add = [&](const std::string& key, const nlohmann::json& group, const char* name) {
        if (std::int64_t v = counter(group, name); v >= 0)
            u64(key, static_cast<std::uint64_t>(v));
    };
    if ((groups & VIR_DOMAIN_STATS_INTERFACE) && d.active()) {
        u32("net.count", static_cast<unsigned>(def.nets.size()));
        for (size_t i = 0; i < def.nets.size(); ++i) {
            std::string k = "net." + std::to_string(i) + ".";
            p.push_back({k + "name", def.nets[i].targetDev});
            nlohmann::json g = c.value("net:" + def.nets[i].alias, nlohmann::json::object());
            add(k + "rx.bytes", g, "rx_bytes");
            add(k + "rx.pkts", g, "rx_packets");
            add(k + "tx.bytes", g, "tx_bytes");
            add(k + "tx.pkts", g, "tx_packets");
            add(k + "tx.drop", g, "tx_drops");
        }
    }
    if ((groups & VIR_DOMAIN_STATS_BLOCK) && d.active()) {
        u32("block.count", static_cast<unsigned>(def.disks.size()));
        for (size_t i = 0; i < def.disks.size(); ++i) {
            std::string k = "block." + std::to_string(i) + ".";
            p.push_back({k + "name", def.disks[i].target});
            p.push_back({k + "path", def.disks[i].source});
            nlohmann::json g = c.value("disk:" + def.disks[i].target, nlohmann::json::object());
            add(k + "rd.reqs", g, "rd_reqs");
            add(k + "rd.bytes", g, "rd_bytes");
            add(k + "wr.reqs", g, "wr_reqs");
            add(k + "wr.bytes", g, "wr_bytes");
            add(k + "fl.reqs", g, "flush_reqs");
        }
    }
    return p;
}

void DomainManager::allStats(const std::vector<rpc::DomainRef>& doms, unsigned stats, unsigned flags,
                             std::function<void(StatsRecords)> done)
{
    const unsigned supported = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON |
                               VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK;
    if ((flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS) && (stats & ~supported))
        fail(VIR_ERR_ARGUMENT_UNSUPPORTED, _("requested statistics are not supported by mica"));
    unsigned groups = stats ? (stats & supported) : supported;
    unsigned listFlags = flags & ~(VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT | VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING |
                                   VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS);
    std::vector<std::string> uuids;
    std::vector<const Domain*> askCounters;
    for (const auto& r : doms.empty() ? listAll(listFlags) : doms) {
        const Domain& d = find(r);
        uuids.push_back(d.def.uuid);
        if ((groups & (VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_BLOCK)) && d.active())
            askCounters.push_back(&d);
    }
    // The records are made when the counters are in, from the domains as they are then
    // (one that went away meanwhile is left out).
    withCounters(askCounters, [this, uuids, groups, done](Counters counters) {
        StatsRecords out;
        for (const auto& uuid : uuids) {
            auto it = domains_.find(uuid);
            if (it == domains_.end())
                continue;
            auto c = counters.find(uuid);
            out.emplace_back(ref(*it->second),
                             statsOf(*it->second, groups, c != counters.end() ? c->second : nlohmann::json::object()));
        }
        done(std::move(out));
    });
}

void DomainManager::withCounters(const std::vector<const Domain*>& doms, std::function<void(Counters)> then)
{
    if (doms.empty()) {
        then({});
        return;
    }
    // The answer waits here, on the loop's side; the workers know only the ticket
    // (WorkerPool.h: nothing that owes an answer goes to a worker).
    std::uint64_t ticket = nextTicket_++;
    PendingCounters& p = pendingCounters_[ticket];
    p.remaining = doms.size();
    p.then = std::move(then);
    for (const Domain* d : doms) {
        pool_.run([this, ticket, uuid = d->def.uuid, socket = d->apiSocket,
                   timeoutMs = options_.countersTimeoutMs]() -> std::function<void()> {
            nlohmann::json c = nlohmann::json::object();
            std::string error;
            auto t0 = std::chrono::steady_clock::now();
            try {
                auto r = process::vmmRequest(socket, "GET", "vm.counters", std::nullopt, timeoutMs);
                if (r.ok() && r.body.is_object())
                    c = std::move(r.body);
                else
                    error = r.errorText();
            } catch (const std::exception& e) {
                // A VMM that does not answer in time: its figures are left out.
                error = e.what();
            }
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
            return [this, ticket, uuid, c = std::move(c), error, ms] {
                // Left out figures are worth a line in the domain's log: a whole bulk
                // call waited for this VMM.
                if (auto d = domains_.find(uuid); !error.empty() && d != domains_.end())
                    store_.note(d->second->def.name, "vm.counters after " + std::to_string(ms) + " ms: " + error);
                auto it = pendingCounters_.find(ticket);
                if (it == pendingCounters_.end())
                    return;
                it->second.counters[uuid] = c;
                if (--it->second.remaining > 0)
                    return;
                auto then = std::move(it->second.then);
                Counters all = std::move(it->second.counters);
                pendingCounters_.erase(it);
                then(std::move(all));
            };
        });
    }
}

}  // namespace mica::domain
