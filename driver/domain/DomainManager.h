// The domains of one daemon: definitions (DomainStore), the mica-vmm process of each
// running one (VmmProcess, VmmClient), their states and lifecycle events, and the
// console streams. Everything runs on the daemon's event-loop thread; a VMM call
// blocks it for at most VmmClient's timeout.
//
// A domain is found by UUID (what libvirt drivers trust in a client's handle). Ids are
// handed out in increasing order and never reused while the daemon runs; a new daemon
// continues after the highest id of the VMMs it finds again.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "DomainDef.h"
#include "DomainStore.h"
#include "DomainTable.h"
#include "EventLoop.h"
#include "RemoteTypes.h"
#include "Stream.h"
#include "VmmProcess.h"

namespace mica::domain {

struct DomainHooks {
    std::function<void(const rpc::DomainRef&, int event, int detail)> lifecycle;
    std::function<void(const rpc::DomainRef&)> reboot;
    // The domain capabilities document new definitions are checked against (empty: none).
    std::function<std::string()> domainCaps;
};

// virDomainBlockStats / virDomainInterfaceStats: -1 where mica does not count.
struct BlockStats {
    std::int64_t rdReq = -1, rdBytes = -1, wrReq = -1, wrBytes = -1, errs = -1;
};
struct InterfaceStats {
    std::int64_t rxBytes = -1, rxPackets = -1, rxErrs = -1, rxDrop = -1;
    std::int64_t txBytes = -1, txPackets = -1, txErrs = -1, txDrop = -1;
};

struct DomainInfo {
    int state = 0;
    std::uint64_t maxMemKiB = 0, memoryKiB = 0;
    unsigned vcpus = 0;
    std::uint64_t cpuTimeNs = 0;
};

class DomainManager final : public driver::DomainTable {
public:
    DomainManager(rpc::EventLoop& loop, DomainStore& store, std::string vmmPath, DomainHooks hooks);
    ~DomainManager() override;
    DomainManager(const DomainManager&) = delete;
    DomainManager& operator=(const DomainManager&) = delete;

    // At daemon start: load definitions, find running VMMs again, start autostart ones.
    void load();
    // From the loop's tick: reads the VMMs' event monitors.
    void tick();

    // DomainTable
    std::vector<rpc::DomainRef> listAll(std::uint32_t flags) const override;
    std::vector<std::int32_t> activeIds() const override;
    std::vector<std::string> inactiveNames() const override;
    std::size_t activeCount() const override;

    // Every call below throws rpc::RpcError with libvirt's error code on failure.
    rpc::DomainRef lookupByName(const std::string& name) const;
    rpc::DomainRef lookupByUuid(const rpc::Uuid& uuid) const;
    rpc::DomainRef lookupById(int id) const;

    rpc::DomainRef define(const std::string& xml, unsigned flags);
    void undefine(const rpc::DomainRef& dom, unsigned flags);
    rpc::DomainRef start(const rpc::DomainRef& dom, unsigned flags);
    rpc::DomainRef createXml(const std::string& xml, unsigned flags);
    void destroy(const rpc::DomainRef& dom, unsigned flags);
    void shutdown(const rpc::DomainRef& dom, unsigned flags);
    void reboot(const rpc::DomainRef& dom, unsigned flags);
    void reset(const rpc::DomainRef& dom, unsigned flags);
    void suspend(const rpc::DomainRef& dom);
    void resume(const rpc::DomainRef& dom);

    DomainInfo info(const rpc::DomainRef& dom) const;
    std::pair<int, int> state(const rpc::DomainRef& dom) const;
    std::string xml(const rpc::DomainRef& dom, unsigned flags) const;
    bool isActive(const rpc::DomainRef& dom) const;
    bool isPersistent(const rpc::DomainRef& dom) const;
    bool isUpdated(const rpc::DomainRef& dom) const;
    bool autostart(const rpc::DomainRef& dom) const;
    void setAutostart(const rpc::DomainRef& dom, bool on);
    int vcpus(const rpc::DomainRef& dom, unsigned flags) const;
    std::uint64_t maxMemoryKiB(const rpc::DomainRef& dom) const;
    // Statistics of a running domain, from the VMM's counters and its process.
    // path: a disk's target ("vda") or source file; device: a TAP name or MAC.
    BlockStats blockStats(const rpc::DomainRef& dom, const std::string& path) const;
    InterfaceStats interfaceStats(const rpc::DomainRef& dom, const std::string& device) const;
    // (virDomainMemoryStatTags, value) pairs.
    std::vector<std::pair<int, std::uint64_t>> memoryStats(const rpc::DomainRef& dom) const;
    process::VmmProcess::CpuTimes cpuTimes(const rpc::DomainRef& dom) const;
    // virConnectGetAllDomainStats: doms (empty: every domain matching the listing
    // flags), stats groups (0: all mica has).
    std::vector<std::pair<rpc::DomainRef, std::vector<rpc::TypedParam>>> allStats(
        const std::vector<rpc::DomainRef>& doms, unsigned stats, unsigned flags) const;
    // Connects stream to the serial console's pty. devName: null or "serial0".
    void openConsole(const rpc::DomainRef& dom, const std::optional<std::string>& devName, unsigned flags,
                     std::shared_ptr<rpc::Stream> stream);

private:
    struct Domain;
    struct Console;
    Domain& find(const rpc::DomainRef& dom) const;
    Domain* findByName(const std::string& name) const;
    rpc::DomainRef ref(const Domain& d) const;
    Domain& running(const rpc::DomainRef& dom) const;
    // A new definition: parsed, then checked against the domain capabilities.
    conf::DomainDef parseNew(const std::string& xml, unsigned parseFlags) const;
    void startDomain(Domain& d, bool paused);
    void watch(Domain& d);
    void readEvents(Domain& d);
    void onVmmEnded(Domain& d);
    // restarting: the domain starts again right away (kept even when transient).
    void stopped(Domain& d, int reason, int eventDetail, bool restarting = false);
    void saveStatus(const Domain& d) const;
    void closeConsole(Domain& d);
    void emit(const Domain& d, int event, int detail) const;
    nlohmann::json counters(const Domain& d) const;   // {} when the VMM cannot say
    std::vector<rpc::TypedParam> statsOf(const Domain& d, unsigned groups) const;

    rpc::EventLoop& loop_;
    DomainStore& store_;
    std::string vmmPath_;
    DomainHooks hooks_;
    std::map<std::string, std::unique_ptr<Domain>> domains_;   // by canonical uuid
    int nextId_ = 1;
};

}  // namespace mica::domain
