#include "DaemonConfig.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "i18n.h"

namespace mica::driver {

namespace {

std::string trim(const std::string& text)
{
    size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

std::map<std::string, std::string> readDaemonConfig(const std::string& path, bool mayBeMissing,
                                                    const std::set<std::string>& known)
{
    std::map<std::string, std::string> settings;
    std::ifstream in(path);
    if (!in) {
        if (mayBeMissing && errno == ENOENT)
            return settings;
        throw std::invalid_argument(path + ": " + std::strerror(errno));
    }
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        auto fail = [&](const std::string& why) {
            throw std::invalid_argument(path + ":" + std::to_string(number) + ": " + why);
        };
        std::string text = trim(line);
        if (text.empty() || text[0] == '#')
            continue;
        size_t equals = text.find('=');
        if (equals == std::string::npos)
            fail(_("expected name = value"));
        std::string name = trim(text.substr(0, equals));
        std::string rest = trim(text.substr(equals + 1));
        if (!known.count(name))
            fail(_("unknown setting '") + name + "'");
        if (settings.count(name))
            fail(_("'") + name + _("' is set twice"));
        std::string value;
        size_t end = 0;
        if (!rest.empty() && rest[0] == '"') {
            end = rest.find('"', 1);
            if (end == std::string::npos)
                fail(_("a string without its closing quote"));
            value = rest.substr(1, end - 1);
            ++end;
        } else {
            end = rest.find_first_not_of("0123456789");
            if (rest.empty() || end == 0)
                fail(_("expected a \"quoted string\" or a number for '") + name + "'");
            value = rest.substr(0, end);
        }
        std::string after = end == std::string::npos ? std::string() : trim(rest.substr(end));
        if (!after.empty() && after[0] != '#')
            fail(_("unexpected text after the value of '") + name + "'");
        settings[name] = value;
    }
    return settings;
}

}  // namespace mica::driver
