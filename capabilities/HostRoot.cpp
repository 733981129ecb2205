#include "HostRoot.h"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "UniqueFd.h"

namespace mica::caps {

HostRoot::HostRoot(std::string root) : root_(std::move(root))
{
    while (!root_.empty() && root_.back() == '/')
        root_.pop_back();
}

std::string HostRoot::path(std::string_view abs) const
{
    return root_ + std::string(abs);
}

std::optional<std::string> HostRoot::read(std::string_view abs, std::size_t cap) const
{
    UniqueFd fd(::open(path(abs).c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd)
        return std::nullopt;
    std::string out;
    char buf[8192];
    while (out.size() < cap) {
        ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, cap - out.size()));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return std::nullopt;
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string trim(std::string_view s)
{
    auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos)
        return {};
    auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

std::optional<std::string> HostRoot::readLine(std::string_view abs) const
{
    auto text = read(abs, 64 * 1024);
    if (!text)
        return std::nullopt;
    auto nl = text->find('\n');
    return trim(std::string_view(*text).substr(0, nl));
}

std::optional<uint64_t> HostRoot::readUnsigned(std::string_view abs) const
{
    auto line = readLine(abs);
    if (!line || line->empty())
        return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(line->data(), line->data() + line->size(), v);
    if (ec != std::errc() || p != line->data() + line->size())
        return std::nullopt;
    return v;
}

std::optional<struct stat> HostRoot::stat(std::string_view abs) const
{
    struct stat st {};
    if (::stat(path(abs).c_str(), &st) != 0)
        return std::nullopt;
    return st;
}

bool HostRoot::exists(std::string_view abs) const
{
    return stat(abs).has_value();
}

bool HostRoot::isDir(std::string_view abs) const
{
    auto st = stat(abs);
    return st && S_ISDIR(st->st_mode);
}

std::vector<std::string> HostRoot::list(std::string_view abs) const
{
    std::vector<std::string> names;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path(abs).c_str()), ::closedir);
    if (!dir)
        return names;
    while (auto* e = ::readdir(dir.get())) {
        if (e->d_name[0] != '.')
            names.emplace_back(e->d_name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<unsigned> parseCpuList(std::string_view text)
{
    std::vector<unsigned> cpus;
    std::string s = trim(text);
    std::string_view rest(s);
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view part = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        unsigned a = 0, b = 0;
        auto dash = part.find('-');
        auto first = part.substr(0, dash);
        if (std::from_chars(first.data(), first.data() + first.size(), a).ec != std::errc())
            continue;
        b = a;
        if (dash != std::string_view::npos) {
            auto second = part.substr(dash + 1);
            if (std::from_chars(second.data(), second.data() + second.size(), b).ec != std::errc() || b < a)
                continue;
        }
        for (unsigned c = a; c <= b && cpus.size() < 65536; ++c)
            cpus.push_back(c);
    }
    std::sort(cpus.begin(), cpus.end());
    cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
    return cpus;
}

}  // namespace mica::caps
