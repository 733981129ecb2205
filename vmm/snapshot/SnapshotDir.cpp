#include "SnapshotDir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "Component.h"
#include "Error.h"

namespace mica::snapshot {

namespace {
// A state.json is a few KiB per vCPU and device; anything near this is not ours.
constexpr off_t kMaxJson = 64 << 20;

std::string join(const Directory& dir, const char* name)
{
    return dir.path + "/" + name;
}
}  // namespace

std::string directoryFromUrl(const std::string& url)
{
    const std::string scheme = "file://";
    if (!url.starts_with(scheme) || url.size() <= scheme.size() || url[scheme.size()] != '/')
        throw Error("'" + url + "': a snapshot URL is file:///ABSOLUTE/PATH");
    std::string dir = url.substr(scheme.size());
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    return dir;
}

Directory openDirectory(const std::string& url, bool create)
{
    Directory dir{UniqueFd(), directoryFromUrl(url)};
    if (create && ::mkdir(dir.path.c_str(), 0700) < 0 && errno != EEXIST)
        throw systemError(dir.path);
    dir.fd = UniqueFd(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.fd)
        throw systemError(dir.path);
    return dir;
}

void writeJson(const Directory& dir, const char* name, const nlohmann::json& value)
{
    std::string path = join(dir, name), temporary = path + ".new";
    std::string temporaryName = std::string(name) + ".new";
    UniqueFd fd(::openat(dir.fd.get(), temporaryName.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd)
        throw systemError(temporary);
    std::string text = value.dump();
    const char* data = text.data();
    size_t left = text.size();
    while (left) {
        ssize_t n = ::write(fd.get(), data, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw systemError(temporary);
        data += n, left -= static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) < 0 || ::renameat(dir.fd.get(), temporaryName.c_str(), dir.fd.get(), name) < 0)
        throw systemError(path);
}

nlohmann::json readJson(const Directory& dir, const char* name)
{
    std::string path = join(dir, name);
    UniqueFd fd(::openat(dir.fd.get(), name, O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) < 0)
        throw StateError(path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size > kMaxJson)
        throw StateError(path + ": not a snapshot file (over " + std::to_string(kMaxJson >> 20) + " MiB or not a file)");
    std::string text(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < text.size()) {
        ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw StateError(path + ": cannot read it");
        got += static_cast<size_t>(n);
    }
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        // Not e.what(): it quotes the text read so far, kilobytes of base64 here.
        throw StateError(path + ": not valid JSON (parse error at byte " + std::to_string(e.byte) + " of " +
                         std::to_string(text.size()) + ")");
    }
}

UniqueFd createMemoryFile(const Directory& dir)
{
    std::string path = join(dir, kMemoryFile);
    ::unlinkat(dir.fd.get(), kMemoryFile, 0);  // a new file: the old one's blocks would stay where we write holes
    UniqueFd fd(::openat(dir.fd.get(), kMemoryFile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd)
        throw systemError(path);
    return fd;
}

UniqueFd openMemoryFile(const Directory& dir)
{
    std::string path = join(dir, kMemoryFile);
    UniqueFd fd(::openat(dir.fd.get(), kMemoryFile, O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw StateError(path + ": " + std::strerror(errno));
    return fd;
}

void checkFormat(const nlohmann::json& state)
{
    if (!state.is_object() || state.value("format", "") != kFormat)
        throw StateError("state.json is not a mica snapshot (no \"format\": \"mica-snapshot\")");
    auto version = state.find("version");
    if (version == state.end() || !version->is_number_integer() || version->get<int>() != kVersion)
        throw StateError("state.json has snapshot format version " + (version == state.end() ? "none" : version->dump()) +
                         "; this mica-vmm reads version " + std::to_string(kVersion));
}

}  // namespace mica::snapshot
