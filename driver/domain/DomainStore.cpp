#include "DomainStore.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "ConfError.h"
#include "DomainXmlFormatter.h"
#include "DomainXmlParser.h"
#include "UniqueFd.h"
#include "XmlEscape.h"
#include "Xml.h"
#include "i18n.h"

namespace mica::domain {

namespace fs = std::filesystem;

namespace {

std::string readFile(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void makeDir(const std::string& dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir))
        throw std::runtime_error(dir + ": " + _("cannot create directory"));
}

// The *.xml files of dir, sorted so loading order is stable.
std::vector<std::string> xmlFiles(const std::string& dir)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".xml")
            out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

void writeFileAtomically(const std::string& path, const std::string& content)
{
    std::string tmp = path + ".new";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd)
        throw std::runtime_error(tmp + ": " + std::strerror(errno));
    for (size_t done = 0; done < content.size();) {
        ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = errno;
            ::unlink(tmp.c_str());
            throw std::runtime_error(tmp + ": " + std::strerror(err));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) < 0 || ::rename(tmp.c_str(), path.c_str()) < 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw std::runtime_error(path + ": " + std::strerror(err));
    }
}

DomainStore::DomainStore(StorePaths paths) : paths_(std::move(paths))
{
    makeDir(paths_.configDir);
    makeDir(paths_.configDir + "/autostart");
    makeDir(paths_.stateDir);
    makeDir(paths_.logDir);
    makeDir(paths_.saveDir);
    // Save images hold guest RAM: for the daemon's user only.
    std::error_code ec;
    fs::permissions(paths_.saveDir, fs::perms::owner_all, ec);
}

bool DomainStore::hasManagedSave(const std::string& name) const
{
    std::error_code ec;
    return fs::is_regular_file(managedSavePath(name), ec);
}

void DomainStore::saveConfig(const conf::DomainDef& def) const
{
    writeFileAtomically(paths_.configDir + "/" + def.name + ".xml", conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE));
}

void DomainStore::removeConfig(const std::string& name) const
{
    ::unlink((paths_.configDir + "/" + name + ".xml").c_str());
    setAutostart(name, false);
}

std::vector<conf::DomainDef> DomainStore::loadConfigs() const
{
    std::vector<conf::DomainDef> out;
    for (const auto& path : xmlFiles(paths_.configDir)) {
        try {
            conf::DomainDef def = conf::parseDomainXml(readFile(path));
            if (fs::path(path).stem() != def.name)
                throw std::runtime_error(_("the file name does not match the domain name ") + std::string("'") +
                                         def.name + "'");
            out.push_back(std::move(def));
        } catch (const std::exception& e) {
            std::cerr << "virtmicad: " << path << ": " << _("skipping a definition that cannot be loaded: ")
                      << e.what() << std::endl;
        }
    }
    return out;
}

bool DomainStore::autostart(const std::string& name) const
{
    std::error_code ec;
    return fs::is_symlink(paths_.configDir + "/autostart/" + name + ".xml", ec);
}

void DomainStore::setAutostart(const std::string& name, bool on) const
{
    std::string link = paths_.configDir + "/autostart/" + name + ".xml";
    ::unlink(link.c_str());
    if (on && ::symlink((paths_.configDir + "/" + name + ".xml").c_str(), link.c_str()) < 0)
        throw std::runtime_error(link + ": " + std::strerror(errno));
}

void DomainStore::saveStatus(const DomainStatus& s) const
{
    std::ostringstream out;
    out << "<domstatus state='" << s.state << "' reason='" << s.reason << "' pid='" << s.pid << "' id='" << s.id
        << "' persistent='" << (s.persistent ? "yes" : "no") << "'";
    if (!s.serialPty.empty())
        out << " serial='" << xmlEscape(s.serialPty) << "'";
    if (s.vmmUid)
        out << " uid='" << *s.vmmUid << "' gid='" << s.vmmGid << "'";
    out << ">\n";
    for (const auto& tap : s.createdTaps)
        out << "  <tap name='" << xmlEscape(tap) << "'/>\n";
    out << conf::formatDomainXml(s.def, VIR_DOMAIN_XML_INACTIVE) << "</domstatus>\n";
    writeFileAtomically(paths_.stateDir + "/" + s.def.name + ".xml", out.str());
}

void DomainStore::removeStatus(const std::string& name) const
{
    ::unlink((paths_.stateDir + "/" + name + ".xml").c_str());
}

std::vector<DomainStatus> DomainStore::loadStatuses() const
{
    std::vector<DomainStatus> out;
    for (const auto& path : xmlFiles(paths_.stateDir)) {
        try {
            auto doc = conf::parseXmlDocument(readFile(path), path.c_str());
            xmlNode* root = xmlDocGetRootElement(doc.get());
            if (!root || conf::nodeName(root) != "domstatus")
                throw std::runtime_error(_("not a <domstatus> document"));
            conf::ElementReader r(root, "domstatus");
            DomainStatus s;
            s.state = static_cast<int>(r.number("state").value_or(0));
            s.reason = static_cast<int>(r.number("reason").value_or(0));
            s.pid = static_cast<pid_t>(r.number("pid").value_or(0));
            s.id = static_cast<int>(r.number("id").value_or(0));
            s.persistent = r.attr("persistent").value_or("yes") == "yes";
            s.serialPty = r.attr("serial").value_or("");
            if (auto uid = r.number("uid"))
                s.vmmUid = static_cast<uid_t>(*uid);
            s.vmmGid = static_cast<gid_t>(r.number("gid").value_or(s.vmmUid.value_or(0)));
            for (xmlNode* tap : r.children("tap"))
                s.createdTaps.push_back(conf::ElementReader(tap, "tap").requireAttr("name"));
            xmlNode* dom = r.child("domain");
            if (!dom)
                throw std::runtime_error(_("no <domain> inside"));
            s.def = conf::parseDomainXml(conf::serializeElement(dom));
            out.push_back(std::move(s));
        } catch (const std::exception& e) {
            std::cerr << "virtmicad: " << path << ": " << _("ignoring a status file that cannot be read: ")
                      << e.what() << std::endl;
        }
    }
    return out;
}

void DomainStore::note(const std::string& name, const std::string& text) const
{
    // 0600, as the VMM's output that goes into the same file: a log may name the
    // guest's files and must not be readable by other users (or other VMMs' uids).
    UniqueFd log(::open(logPath(name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log)
        return;
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::gmtime(&now));
    std::string line = std::string(stamp) + " virtmicad: " + text + "\n";
    (void)!::write(log.get(), line.data(), line.size());
}

}  // namespace mica::domain
