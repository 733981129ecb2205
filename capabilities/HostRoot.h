// Every host file the probe reads goes through HostRoot, so tests can point the whole
// probe at a fake tree (tests/data/domcaps/HOST/) instead of this machine's /.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mica::caps {

class HostRoot {
public:
    explicit HostRoot(std::string root);

    const std::string& root() const { return root_; }
    bool isRealRoot() const { return root_.empty(); }
    // The on-disk path of an absolute host path ("/sys/..." -> "<root>/sys/...").
    std::string path(std::string_view abs) const;

    // Whole file, at most `cap` bytes; nullopt when it cannot be read.
    std::optional<std::string> read(std::string_view abs, std::size_t cap = 1 << 20) const;
    // First line without trailing whitespace.
    std::optional<std::string> readLine(std::string_view abs) const;
    std::optional<uint64_t> readUnsigned(std::string_view abs) const;
    bool exists(std::string_view abs) const;
    bool isDir(std::string_view abs) const;
    std::optional<struct stat> stat(std::string_view abs) const;
    // Entry names (no "." entries), sorted; empty when the directory is missing.
    std::vector<std::string> list(std::string_view abs) const;

private:
    std::string root_;  // "" for the real /, else the fake tree without trailing '/'
};

// "0-3,8,10-11" -> {0,1,2,3,8,10,11}; malformed parts are ignored.
std::vector<unsigned> parseCpuList(std::string_view text);
std::string trim(std::string_view s);

}  // namespace mica::caps
