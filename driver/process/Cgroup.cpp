#include "Cgroup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "UniqueFd.h"

namespace mica::process {

namespace fs = std::filesystem;

namespace {

// One write(2): cgroup files take a value per write and say no through its errno.
bool writeOnce(const std::string& path, const std::string& value)
{
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    return fd && ::write(fd.get(), value.data(), value.size()) == static_cast<ssize_t>(value.size());
}

}  // namespace

void createCgroup(const std::string& dir)
{
    fs::path parent = fs::path(dir).parent_path();
    std::error_code ec;
    fs::create_directories(parent, ec);
    // From the hierarchy's root (the highest directory with cgroup.controllers) down:
    // each level hands the controllers to the next. Best effort: what the kernel does
    // not offer shows up as a missing file when a tunable is written.
    std::vector<fs::path> chain;
    for (fs::path p = parent; fs::exists(p / "cgroup.controllers"); p = p.parent_path()) {
        chain.insert(chain.begin(), p);
        if (p == p.parent_path())
            break;
    }
    for (const auto& level : chain)
        for (const char* controller : {"+cpu", "+memory", "+io"})
            writeOnce((level / "cgroup.subtree_control").string(), controller);
    fs::create_directory(dir, ec);
    if (ec && ec != std::errc::file_exists)
        throw std::runtime_error(dir + ": " + ec.message());
    if (!fs::exists(fs::path(dir) / "cgroup.procs"))
        throw std::runtime_error(dir + ": " + "not a cgroup v2 directory (no cgroup.procs)");
}

void removeCgroup(const std::string& dir)
{
    // cgroup directories go with rmdir, never by deleting their files.
    if (!dir.empty())
        ::rmdir(dir.c_str());
}

void writeCgroupFile(const std::string& dir, const std::string& file, const std::string& value)
{
    if (!writeOnce(dir + "/" + file, value))
        throw std::runtime_error(dir + "/" + file + ": " + std::strerror(errno));
}

}  // namespace mica::process
