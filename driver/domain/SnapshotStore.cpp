#include "SnapshotStore.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "DomainStore.h"
#include "i18n.h"

namespace mica::domain {

namespace fs = std::filesystem;

void SnapshotStore::save(const std::string& domain, const conf::SnapshotDef& def) const
{
    std::string dir = domainDir(domain);
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST)
        throw std::runtime_error(dir + ": " + std::strerror(errno));
    writeFileAtomically(dir + "/" + def.name + ".xml", conf::formatSnapshotXml(def, true), "snapshot-metadata");
}

void SnapshotStore::remove(const std::string& domain, const std::string& snapshot) const
{
    std::string path = domainDir(domain) + "/" + snapshot + ".xml";
    if (::unlink(path.c_str()) < 0 && errno != ENOENT)
        throw std::runtime_error(path + ": " + std::strerror(errno));
}

void SnapshotStore::removeAll(const std::string& domain) const
{
    std::error_code ec;
    fs::remove_all(domainDir(domain), ec);
    if (ec)
        throw std::runtime_error(domainDir(domain) + ": " + ec.message());
}

std::vector<conf::SnapshotDef> SnapshotStore::load(const std::string& domain) const
{
    std::vector<conf::SnapshotDef> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(domainDir(domain), ec)) {
        std::string file = e.path().filename().string();
        if (isTemporaryFile(file)) {
            fs::remove(e.path(), ec);   // a write a crash interrupted
            continue;
        }
        if (e.path().extension() != ".xml")
            continue;
        try {
            std::ifstream in(e.path());
            std::stringstream text;
            text << in.rdbuf();
            conf::SnapshotDef def = conf::parseSnapshotMetadata(text.str());
            if (e.path().stem() != def.name)
                throw std::runtime_error(_("the file name does not match the snapshot's name"));
            out.push_back(std::move(def));
        } catch (const std::exception& err) {
            std::cerr << "virtmicad: " << e.path().string() << ": " << _("skipping snapshot metadata that cannot be loaded: ")
                      << err.what() << std::endl;
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.creationTime != b.creationTime ? a.creationTime < b.creationTime : a.name < b.name;
    });
    return out;
}

}  // namespace mica::domain
