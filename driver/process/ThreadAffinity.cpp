#include "ThreadAffinity.h"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mica::process {

std::set<unsigned> usableCpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    std::set<unsigned> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
        for (unsigned c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set))
                cpus.insert(c);
    return cpus;
}

void pinEmulatorThreads(pid_t pid, const std::set<unsigned>& cpus)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c : cpus.empty() ? usableCpus() : cpus)
        if (c < CPU_SETSIZE)
            CPU_SET(c, &set);
    std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
        std::string name;
        std::getline(std::ifstream(task.path() / "comm"), name);
        if (name.rfind("vcpu", 0) == 0)
            continue;
        pid_t tid = static_cast<pid_t>(std::stol(task.path().filename().string()));
        // A thread that ended since the listing is no longer anybody's concern.
        if (::sched_setaffinity(tid, sizeof set, &set) < 0 && errno != ESRCH)
            throw std::runtime_error("thread " + name + " (" + std::to_string(tid) + "): " + std::strerror(errno));
    }
    if (ec)
        throw std::runtime_error(tasks + ": " + ec.message());
}

}  // namespace mica::process
