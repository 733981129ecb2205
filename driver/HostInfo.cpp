#include "HostInfo.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "XmlEscape.h"

namespace mica::driver {

namespace {

std::uint64_t meminfoKiB(const std::string& proc, const std::string& key)
{
    std::ifstream in(proc + "/meminfo");
    std::string name;
    std::uint64_t value;
    std::string unit;
    while (in >> name >> value) {
        std::getline(in, unit);
        if (name == key + ":")
            return value;
    }
    return 0;
}

std::string readLine(const std::string& path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// "0-3,8" -> {0,1,2,3,8}; malformed parts are skipped.
std::vector<int> parseCpuList(const std::string& list)
{
    std::vector<int> cpus;
    std::stringstream ss(list);
    std::string part;
    while (std::getline(ss, part, ',')) {
        try {
            auto dash = part.find('-');
            int first = std::stoi(part.substr(0, dash));
            int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
            for (int c = first; c <= last && c < 65536; ++c)
                cpus.push_back(c);
        } catch (const std::exception&) {
        }
    }
    return cpus;
}

int countCpuList(const std::string& list)
{
    return static_cast<int>(parseCpuList(list).size());
}

}  // namespace

std::string HostInfo::hostname() const
{
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0)
        return "localhost";
    return buf;
}

int HostInfo::onlineCpus() const
{
    std::string online = readLine(sys_ + "/devices/system/cpu/online");
    if (!online.empty())
        return countCpuList(online);
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

std::vector<bool> HostInfo::onlineCpuMap() const
{
    auto online = parseCpuList(readLine(sys_ + "/devices/system/cpu/online"));
    auto present = parseCpuList(readLine(sys_ + "/devices/system/cpu/present"));
    int highest = -1;
    for (int c : online)
        highest = std::max(highest, c);
    for (int c : present)
        highest = std::max(highest, c);
    if (highest < 0) {   // no sysfs: trust sysconf
        return std::vector<bool>(static_cast<std::size_t>(onlineCpus()), true);
    }
    std::vector<bool> map(static_cast<std::size_t>(highest) + 1, false);
    for (int c : online)
        map[static_cast<std::size_t>(c)] = true;
    return map;
}

NodeInfo HostInfo::nodeInfo() const
{
    NodeInfo info;
    utsname u{};
    if (::uname(&u) == 0)
        info.model = u.machine;
    info.memoryKiB = meminfoKiB(proc_, "MemTotal");
    info.cpus = onlineCpus();

    std::ifstream cpuinfo(proc_ + "/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("cpu MHz", 0) == 0) {
            auto colon = line.find(':');
            if (colon != std::string::npos)
                info.mhz = static_cast<std::int32_t>(std::stod(line.substr(colon + 1)));
            break;
        }
    }

    namespace fs = std::filesystem;
    std::error_code ec;
    int nodes = 0;
    for (const auto& e : fs::directory_iterator(sys_ + "/devices/system/node", ec))
        if (e.path().filename().string().rfind("node", 0) == 0 &&
            std::isdigit(static_cast<unsigned char>(e.path().filename().string()[4])))
            ++nodes;
    info.nodes = nodes > 0 ? nodes : 1;

    std::set<std::string> packages;
    std::string cpuDir = sys_ + "/devices/system/cpu/";
    for (const auto& e : fs::directory_iterator(cpuDir, ec)) {
        std::string pkg = readLine(e.path().string() + "/topology/physical_package_id");
        if (!pkg.empty())
            packages.insert(pkg);
    }
    std::string siblings = readLine(cpuDir + "cpu0/topology/thread_siblings_list");
    info.threads = siblings.empty() ? 1 : std::max(1, countCpuList(siblings));
    int sockets = std::max<int>(1, static_cast<int>(packages.size()));
    info.sockets = std::max(1, sockets / info.nodes);
    // libvirt's invariant: nodes * sockets * cores * threads covers the online CPUs.
    info.cores = std::max(1, info.cpus / (info.nodes * info.sockets * info.threads));
    return info;
}

Counters HostInfo::memoryStats() const
{
    return {{"total", meminfoKiB(proc_, "MemTotal")},
            {"free", meminfoKiB(proc_, "MemFree")},
            {"buffers", meminfoKiB(proc_, "Buffers")},
            {"cached", meminfoKiB(proc_, "Cached")}};
}

Counters HostInfo::cpuStats(int cpu) const
{
    std::string want = cpu < 0 ? "cpu" : "cpu" + std::to_string(cpu);
    std::ifstream in(proc_ + "/stat");
    std::string line;
    long hz = ::sysconf(_SC_CLK_TCK);
    std::uint64_t nsPerTick = hz > 0 ? 1000000000ull / static_cast<std::uint64_t>(hz) : 10000000ull;
    while (std::getline(in, line)) {
        std::istringstream ss(line);
        std::string name;
        ss >> name;
        if (name != want)
            continue;
        std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0;
        ss >> user >> nice >> system >> idle >> iowait;
        return {{"kernel", system * nsPerTick},
                {"user", (user + nice) * nsPerTick},
                {"idle", idle * nsPerTick},
                {"iowait", iowait * nsPerTick}};
    }
    throw std::out_of_range("no CPU " + std::to_string(cpu));
}

std::optional<std::string> HostInfo::sysinfoXml() const
{
    std::string dmi = sys_ + "/class/dmi/id/";
    // libvirt's entry names per section, and the sysfs file each comes from.
    struct Section {
        const char* name;
        std::vector<std::pair<const char*, const char*>> entries;
    };
    const Section sections[] = {
        {"bios", {{"vendor", "bios_vendor"}, {"version", "bios_version"}, {"date", "bios_date"},
                  {"release", "bios_release"}}},
        {"system", {{"manufacturer", "sys_vendor"}, {"product", "product_name"},
                    {"version", "product_version"}, {"serial", "product_serial"},
                    {"uuid", "product_uuid"}, {"sku", "product_sku"}, {"family", "product_family"}}},
        {"baseBoard", {{"manufacturer", "board_vendor"}, {"product", "board_name"},
                       {"version", "board_version"}, {"serial", "board_serial"},
                       {"asset", "board_asset_tag"}}},
        {"chassis", {{"manufacturer", "chassis_vendor"}, {"version", "chassis_version"},
                     {"serial", "chassis_serial"}, {"asset", "chassis_asset_tag"}}},
    };
    std::string xml = "<sysinfo type='smbios'>\n";
    bool any = false;
    for (const auto& section : sections) {
        std::string body;
        for (const auto& [entry, file] : section.entries) {
            std::string value = readLine(dmi + file);
            while (!value.empty() && value.back() == ' ')
                value.pop_back();
            if (!value.empty())
                body += std::string("    <entry name='") + entry + "'>" + xmlEscape(value) + "</entry>\n";
        }
        if (body.empty())
            continue;
        xml += std::string("  <") + section.name + ">\n" + body + "  </" + section.name + ">\n";
        any = true;
    }
    if (!any)
        return std::nullopt;
    return xml + "</sysinfo>\n";
}

std::uint64_t HostInfo::freeMemoryBytes() const
{
    return meminfoKiB(proc_, "MemFree") * 1024;
}

}  // namespace mica::driver
