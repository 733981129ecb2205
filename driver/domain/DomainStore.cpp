#include "DomainStore.h"

#include <fcntl.h>
#include <sys/stat.h>
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
#include <string_view>
#include <vector>

#include "ConfError.h"
#include "CrashPoint.h"
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

bool isTemporaryFile(const std::string& file)
{
    auto endsWith = [&](const char* suffix) {
        std::string_view f(file), x(suffix);
        return f.size() >= x.size() && f.substr(f.size() - x.size()) == x;
    };
    // Ours: ".BASE.XXXXXX.tmp". The older daemons': "BASE.new" (a definition or status
    // is always "*.xml", so neither can be one).
    return (file.size() > 12 && file[0] == '.' && endsWith(".tmp")) || endsWith(".xml.new");
}

static void syncDirectory(const std::string& dir)
{
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) < 0)
        throw std::runtime_error(dir + ": fsync: " + std::strerror(errno));
}

void writeFileAtomically(const std::string& path, const std::string& content, const char* crashTag)
{
    auto slash = path.rfind('/');
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    // A name of its own, made by mkostemps (O_EXCL): two writes never share one, and no
    // domain's file can be it (it starts with '.' and ends with ".tmp", not ".xml").
    std::string tmpl = dir + "/." + path.substr(slash + 1) + ".XXXXXX.tmp";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    UniqueFd fd(::mkostemps(name.data(), 4, O_CLOEXEC));
    if (!fd)
        throw std::runtime_error(tmpl + ": " + std::strerror(errno));
    std::string tmp(name.data());
    auto failWith = [&](const std::string& what, int err) {
        ::unlink(tmp.c_str());
        throw std::runtime_error(what + ": " + std::strerror(err));
    };
    for (size_t done = 0; done < content.size();) {
        ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            failWith(tmp, n < 0 ? errno : ENOSPC);
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) < 0)
        failWith(tmp, errno);
    if (crashTag)
        process::crashPoint((std::string(crashTag) + "-temp-written").c_str());
    if (::rename(tmp.c_str(), path.c_str()) < 0)
        failWith(path, errno);
    if (crashTag)
        process::crashPoint((std::string(crashTag) + "-renamed").c_str());
    // The rename itself is durable only once the directory is.
    syncDirectory(dir);
}

DomainStore::DomainStore(StorePaths paths) : paths_(std::move(paths))
{
    if (paths_.snapshotDir.empty())
        paths_.snapshotDir = fs::path(paths_.saveDir).parent_path() / "snapshot";
    makeDir(paths_.configDir);
    makeDir(paths_.configDir + "/autostart");
    makeDir(paths_.stateDir);
    makeDir(paths_.logDir);
    makeDir(paths_.saveDir);
    makeDir(paths_.snapshotDir);
    // Save images hold guest RAM, logs name the guest's files and carry its console
    // output: for the daemon's user only, in the system layout and under --root alike.
    std::error_code ec;
    fs::permissions(paths_.saveDir, fs::perms::owner_all, ec);
    fs::permissions(paths_.snapshotDir, fs::perms::owner_all, ec);
    fs::permissions(paths_.logDir, fs::perms::owner_all, ec);
    // Temporary files of writes a crash interrupted: never loaded, now removed.
    for (const auto& dir : {paths_.configDir, paths_.stateDir})
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.is_regular_file(ec) && isTemporaryFile(e.path().filename().string()))
                fs::remove(e.path(), ec);
}

void DomainStore::makeDomainDir(const std::string& name, bool confined) const
{
    std::string dir = domainDir(name);
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST)
        throw std::runtime_error(dir + ": " + std::strerror(errno));
    struct stat st{};
    if (::lstat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        throw std::runtime_error(dir + ": " + _("not a directory"));
    // The daemon's, whoever made it (an older layout's run directory was the VMM's).
    if (st.st_uid != ::geteuid() && ::lchown(dir.c_str(), ::geteuid(), ::getegid()) < 0)
        throw std::runtime_error(dir + ": chown: " + std::strerror(errno));
    ::chmod(dir.c_str(), confined ? 0711 : 0700);
}

void DomainStore::removeDomainDir(const std::string& name) const
{
    std::error_code ec;
    fs::remove_all(domainDir(name), ec);
}

std::vector<std::string> DomainStore::strayDomainDirs() const
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(paths_.stateDir, ec)) {
        std::string name = e.path().filename().string();
        if (e.is_directory(ec) && !e.is_symlink(ec) && !fs::exists(statusPath(name), ec))
            out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool DomainStore::hasManagedSave(const std::string& name) const
{
    std::error_code ec;
    return fs::is_regular_file(managedSavePath(name), ec);
}

void DomainStore::recordSavedOnStop(const std::vector<std::string>& names) const
{
    std::string text;
    for (const auto& n : names)
        text += n + "\n";
    writeFileAtomically(paths_.saveDir + "/saved-on-stop", text);
}

std::vector<std::string> DomainStore::takeSavedOnStop() const
{
    std::string path = paths_.saveDir + "/saved-on-stop";
    std::ifstream in(path);
    std::vector<std::string> names;
    for (std::string line; std::getline(in, line);)
        if (!line.empty())
            names.push_back(line);
    ::unlink(path.c_str());
    return names;
}

void DomainStore::saveConfig(const conf::DomainDef& def) const
{
    writeFileAtomically(paths_.configDir + "/" + def.name + ".xml", conf::formatDomainXml(def, VIR_DOMAIN_XML_INACTIVE),
                        "define");
}

void DomainStore::removeConfig(const std::string& name) const
{
    setAutostart(name, false);
    std::string path = paths_.configDir + "/" + name + ".xml";
    if (::unlink(path.c_str()) < 0 && errno != ENOENT)
        throw std::runtime_error(path + ": " + std::strerror(errno));
    syncDirectory(paths_.configDir);
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

namespace {

std::string formatStatus(const DomainStatus& s)
{
    std::ostringstream out;
    out << "<domstatus state='" << s.state << "' reason='" << s.reason << "' pid='" << s.pid << "' id='" << s.id
        << "' persistent='" << (s.persistent ? "yes" : "no") << "'";
    if (s.starting)
        out << " starting='yes'";
    if (!s.startId.empty())
        out << " start='" << xmlEscape(s.startId) << "'";
    if (!s.vmmDir.empty())
        out << " vmmdir='" << xmlEscape(s.vmmDir) << "'";
    if (!s.vmmHoldsLock)
        out << " vmmlock='no'";
    if (!s.serialPty.empty())
        out << " serial='" << xmlEscape(s.serialPty) << "'";
    if (s.vmmUid)
        out << " uid='" << *s.vmmUid << "' gid='" << s.vmmGid << "'";
    out << ">\n";
    for (const auto& tap : s.createdTaps)
        out << "  <tap name='" << xmlEscape(tap) << "'/>\n";
    // The backing chains read at start: the live XML shows them, and the definition
    // below is in its inactive form, which has none.
    for (const auto& disk : s.def.disks) {
        if (!disk.backingChain)
            continue;
        out << "  <backingChain disk='" << xmlEscape(disk.target) << "'>\n";
        for (const auto& link : *disk.backingChain)
            out << "    <link type='" << (link.type == conf::BackingStoreDef::Type::Block ? "block" : "file")
                << "' format='" << conf::diskFormatName(link.format) << "' path='" << xmlEscape(link.path) << "'/>\n";
        out << "  </backingChain>\n";
    }
    out << conf::formatDomainXml(s.def, VIR_DOMAIN_XML_INACTIVE) << "</domstatus>\n";
    return out.str();
}

DomainStatus parseStatus(const std::string& path)
{
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
    s.starting = r.attr("starting").value_or("no") == "yes";
    s.startId = r.attr("start").value_or("");
    s.vmmDir = r.attr("vmmdir").value_or("");
    s.vmmHoldsLock = r.attr("vmmlock").value_or("yes") == "yes";
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
    for (xmlNode* c : r.children("backingChain")) {
        conf::ElementReader chain(c, "backingChain");
        std::string target = chain.requireAttr("disk");
        auto disk = std::find_if(s.def.disks.begin(), s.def.disks.end(), [&](const auto& d) { return d.target == target; });
        if (disk == s.def.disks.end())
            throw std::runtime_error(conf::subst(_("a backing chain for disk '%1', which the domain does not have"), {target}));
        disk->backingChain.emplace();
        for (xmlNode* l : chain.children("link")) {
            conf::ElementReader link(l, "backingChain");
            auto type = link.attrOneOf("type", {"file", "block"});
            auto format = conf::diskFormatFromName(link.requireAttr("format"));
            if (!format)
                throw std::runtime_error(_("a backing chain link of unknown format"));
            disk->backingChain->push_back({type == "block" ? conf::BackingStoreDef::Type::Block
                                                           : conf::BackingStoreDef::Type::File,
                                           *format, link.requireAttr("path")});
            link.finish();
        }
        chain.finish();
    }
    return s;
}

}  // namespace

void DomainStore::saveStatus(const DomainStatus& s) const
{
    writeFileAtomically(statusPath(s.def.name), formatStatus(s));
}

void DomainStore::removeStatus(const std::string& name) const
{
    ::unlink(statusPath(name).c_str());
}

void DomainStore::migrateFlatStatuses() const
{
    // The older layout: stateDir/NAME.xml (status) beside stateDir/NAME/ (the VMM's run
    // directory, API socket and FIFO directly in it). The status moves into that
    // directory, which becomes the domain's directory (the daemon's again: a confined
    // VMM owned it); the VMM keeps its files where they are (vmmdir) and, holding no
    // lock, gets one held for it by the daemon. The new file is written before the old
    // one goes: a crash in between repeats the move.
    std::error_code ec;
    for (const auto& path : xmlFiles(paths_.stateDir)) {
        try {
            DomainStatus s = parseStatus(path);
            if (fs::path(path).filename().string() != s.def.name + ".xml")
                throw std::runtime_error(_("the file name does not match the domain name"));
            s.vmmDir = domainDir(s.def.name);
            s.vmmHoldsLock = false;
            makeDomainDir(s.def.name, s.vmmUid.has_value());
            saveStatus(s);
            ::unlink(path.c_str());
            syncDirectory(paths_.stateDir);
            std::cerr << "virtmicad: " << path << ": " << _("status moved to ") << statusPath(s.def.name) << std::endl;
        } catch (const std::exception& e) {
            std::cerr << "virtmicad: " << path << ": " << _("ignoring a status file that cannot be read: ")
                      << e.what() << std::endl;
        }
    }
}

std::vector<DomainStatus> DomainStore::loadStatuses() const
{
    migrateFlatStatuses();
    std::vector<DomainStatus> out;
    std::vector<std::string> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(paths_.stateDir, ec))
        if (e.is_directory(ec) && !e.is_symlink(ec))
            dirs.push_back(e.path().filename().string());
    std::sort(dirs.begin(), dirs.end());
    for (const auto& name : dirs) {
        for (const auto& f : fs::directory_iterator(domainDir(name), ec))
            if (f.is_regular_file(ec) && isTemporaryFile(f.path().filename().string()))
                fs::remove(f.path(), ec);
        std::string path = statusPath(name);
        if (!fs::exists(path, ec))
            continue;
        try {
            DomainStatus s = parseStatus(path);
            if (s.def.name != name)
                throw std::runtime_error(_("the directory name does not match the domain name ") +
                                         std::string("'") + s.def.name + "'");
            if (s.vmmDir.empty())
                s.vmmDir = runDir(name);
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
