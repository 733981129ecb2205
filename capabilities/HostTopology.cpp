#include "HostTopology.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

namespace mica::caps {

namespace {

unsigned toUnsigned(std::string_view s, unsigned fallback = 0)
{
    unsigned v = fallback;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

// "hugepages-2048kB" -> 2048
unsigned hugeDirSize(const std::string& name)
{
    constexpr std::string_view prefix = "hugepages-";
    if (name.rfind(prefix, 0) != 0 || name.size() < prefix.size() + 3 || name.substr(name.size() - 2) != "kB")
        return 0;
    return toUnsigned(std::string_view(name).substr(prefix.size(), name.size() - prefix.size() - 2));
}

// "Node 0 MemTotal:       16318708 kB" or "MemTotal:  16318708 kB" -> 16318708
uint64_t memTotal(const std::string& meminfo)
{
    std::istringstream in(meminfo);
    std::string line;
    while (std::getline(in, line)) {
        auto pos = line.find("MemTotal:");
        if (pos == std::string::npos)
            continue;
        std::istringstream rest(line.substr(pos + 9));
        uint64_t kib = 0;
        rest >> kib;
        return kib;
    }
    return 0;
}

unsigned addressBits(const std::string& cpuinfo)
{
    auto pos = cpuinfo.find("address sizes");
    if (pos == std::string::npos)
        return 0;
    auto colon = cpuinfo.find(':', pos);
    if (colon == std::string::npos)
        return 0;
    std::istringstream in(cpuinfo.substr(colon + 1, 40));
    unsigned bits = 0;
    in >> bits;
    return bits;
}

HostCpu probeCpu(const HostRoot& root, unsigned id)
{
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(id) + "/topology/";
    HostCpu c;
    c.id = id;
    c.socket = static_cast<unsigned>(root.readUnsigned(dir + "physical_package_id").value_or(0));
    c.die = static_cast<unsigned>(root.readUnsigned(dir + "die_id").value_or(0));
    c.core = static_cast<unsigned>(root.readUnsigned(dir + "core_id").value_or(id));
    c.siblings = root.readLine(dir + "thread_siblings_list").value_or(std::to_string(id));
    return c;
}

std::vector<PagePool> hugePools(const HostRoot& root, const std::string& dir)
{
    std::vector<PagePool> pools;
    for (const auto& name : root.list(dir)) {
        unsigned size = hugeDirSize(name);
        if (size)
            pools.push_back({size, root.readUnsigned(dir + "/" + name + "/nr_hugepages").value_or(0)});
    }
    std::sort(pools.begin(), pools.end(), [](auto& a, auto& b) { return a.sizeKiB < b.sizeKiB; });
    return pools;
}

}  // namespace

HostTopology probeTopology(const HostRoot& root)
{
    HostTopology t;
    auto online = root.readLine("/sys/devices/system/cpu/online");
    for (unsigned id : parseCpuList(online.value_or("0")))
        t.cpus.push_back(probeCpu(root, id));

    t.memoryKiB = memTotal(root.read("/proc/meminfo").value_or(""));
    t.physAddrBits = addressBits(root.read("/proc/cpuinfo", 256 * 1024).value_or(""));
    t.pageSizesKiB.push_back(4);
    for (const auto& p : hugePools(root, "/sys/kernel/mm/hugepages"))
        t.pageSizesKiB.push_back(p.sizeKiB);

    // Topology per socket/die/core, counted on the first socket and die as libvirt does.
    std::set<unsigned> sockets, dies, cores;
    unsigned threads = 1;
    for (const auto& c : t.cpus) {
        sockets.insert(c.socket);
        if (c.socket == t.cpus.front().socket) {
            dies.insert(c.die);
            if (c.die == t.cpus.front().die)
                cores.insert(c.core);
        }
        threads = std::max(threads, static_cast<unsigned>(parseCpuList(c.siblings).size()));
    }
    if (!t.cpus.empty()) {
        t.sockets = static_cast<unsigned>(sockets.size());
        t.dies = static_cast<unsigned>(dies.size());
        t.cores = static_cast<unsigned>(cores.size());
        t.threads = threads;
    }

    const std::string nodeRoot = "/sys/devices/system/node";
    auto nodes = parseCpuList(root.readLine(nodeRoot + "/online").value_or(""));
    if (nodes.empty()) {
        // A kernel without NUMA support: one cell holding everything, as libvirt reports it.
        NumaCell cell;
        cell.memoryKiB = t.memoryKiB;
        cell.pages.push_back({4, t.memoryKiB / 4});
        for (const auto& p : hugePools(root, "/sys/kernel/mm/hugepages"))
            cell.pages.push_back(p);
        cell.distances.push_back({0, 10});
        cell.cpus = t.cpus;
        t.cells.push_back(std::move(cell));
        return t;
    }
    std::set<unsigned> onlineCpus;
    for (const auto& c : t.cpus)
        onlineCpus.insert(c.id);
    for (unsigned id : nodes) {
        const std::string dir = nodeRoot + "/node" + std::to_string(id);
        NumaCell cell;
        cell.id = id;
        cell.memoryKiB = memTotal(root.read(dir + "/meminfo").value_or(""));
        cell.pages.push_back({4, cell.memoryKiB / 4});
        for (const auto& p : hugePools(root, dir + "/hugepages"))
            cell.pages.push_back(p);
        std::istringstream dist(root.readLine(dir + "/distance").value_or(""));
        unsigned d = 0;
        for (std::size_t i = 0; dist >> d && i < nodes.size(); ++i)
            cell.distances.push_back({nodes[i], d});
        for (unsigned cpu : parseCpuList(root.readLine(dir + "/cpulist").value_or("")))
            if (onlineCpus.count(cpu))
                cell.cpus.push_back(probeCpu(root, cpu));
        t.cells.push_back(std::move(cell));
    }
    return t;
}

}  // namespace mica::caps
