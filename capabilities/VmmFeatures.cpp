#include "VmmFeatures.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "UniqueFd.h"
#include "config.h"
#include "JsonObject.h"

extern char** environ;

namespace mica::caps {

namespace {

using nlohmann::json;

std::set<std::string> stringSet(const json& doc, const char* key)
{
    std::set<std::string> out;
    auto it = doc.find(key);
    if (it == doc.end() || it->is_null())
        return out;
    if (!it->is_array())
        throw std::runtime_error(std::string("'") + key + "' is not an array");
    for (const auto& v : *it) {
        if (!v.is_string())
            throw std::runtime_error(std::string("'") + key + "' holds a non-string");
        out.insert(v.get<std::string>());
    }
    return out;
}

bool isExecutableFile(const std::string& p)
{
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

// Runs argv with stdout captured (stderr and stdin to /dev/null), killing it after
// `limit`. Returns its stdout; throws on any failure with what went wrong.
std::string runCapture(const std::string& path, const std::vector<std::string>& args, std::chrono::milliseconds limit)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    UniqueFd readEnd(fds[0]), writeEnd(fds[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error(std::string("cannot run: ") + std::strerror(rc));
    writeEnd.reset();

    std::string out;
    std::string failure;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            failure = "did not answer within " + std::to_string(limit.count()) + " ms";
            break;
        }
        pollfd p{readEnd.get(), POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        char buf[4096];
        ssize_t got = ::read(readEnd.get(), buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(got));
        if (out.size() > 1 << 20) {
            failure = "printed more than 1 MiB";
            break;
        }
    }
    if (!failure.empty())
        ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!failure.empty())
        throw std::runtime_error(failure);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                                   : "killed by signal " + std::to_string(WTERMSIG(status)));
    return out;
}

std::string selfDir()
{
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return {};
    std::string p(buf, static_cast<std::size_t>(n));
    return p.substr(0, p.rfind('/'));
}

}  // namespace

VmmFeatures parseVmmFeatures(const std::string& text)
{
    json doc = parseJsonObject(text);
    VmmFeatures f;
    try {
        f.version = doc.value("version", std::string());
        f.arch = doc.value("arch", std::string());
        auto mv = doc.find("max_vcpus");
        if (mv == doc.end() || !mv->is_number_unsigned() || mv->get<uint64_t>() == 0 ||
            mv->get<uint64_t>() > 1u << 20)
            throw std::runtime_error("'max_vcpus' is missing or not a positive integer");
        f.maxVcpus = mv->get<unsigned>();
    } catch (const json::exception& e) {
        throw std::runtime_error(e.what());
    }
    if (f.arch.empty())
        throw std::runtime_error("'arch' is missing");
    f.boot = stringSet(doc, "boot");
    f.firmware = stringSet(doc, "firmware");
    f.devices = stringSet(doc, "devices");
    f.diskFormats = stringSet(doc, "disk_formats");
    f.features = stringSet(doc, "features");
    f.present = true;
    return f;
}

VmmFeatures queryVmmFeatures(const std::string& path)
{
    VmmFeatures f;
    try {
        if (!isExecutableFile(path))
            throw std::runtime_error("not an executable file");
        f = parseVmmFeatures(runCapture(path, {"--features"}, std::chrono::seconds(5)));
    } catch (const std::exception& e) {
        f = VmmFeatures{};
        f.error = path + " --features: " + e.what();
    }
    f.path = path;
    return f;
}

VmmFeatures loadVmmFeatures(const std::string& path, const std::string& jsonFile)
{
    VmmFeatures f;
    try {
        std::ifstream in(jsonFile);
        if (!in)
            throw std::runtime_error(std::strerror(errno));
        std::stringstream ss;
        ss << in.rdbuf();
        f = parseVmmFeatures(ss.str());
    } catch (const std::exception& e) {
        f = VmmFeatures{};
        f.error = jsonFile + ": " + e.what();
    }
    f.path = path;
    return f;
}

std::string findVmm(const std::string& explicitPath)
{
    if (!explicitPath.empty())
        return explicitPath;
    if (const char* env = ::getenv("MICA_VMM"); env && *env)
        return env;
    // A program inside a build tree (build/capabilities/mica-domcaps, build/driver/virtmicad,
    // build/tests/...) uses the VMM built beside it, never an older installed one.
    std::string dir = selfDir();
    for (int up = 0; up < 4 && !dir.empty(); ++up) {
        struct stat st {};
        if (::stat((dir + "/build.ninja").c_str(), &st) == 0)
            return dir + "/vmm/mica-vmm";
        dir = dir.substr(0, dir.rfind('/'));
    }
    return std::string(MICA_LIBEXECDIR) + "/mica-vmm";
}

}  // namespace mica::caps
