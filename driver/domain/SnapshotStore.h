// Snapshot metadata on disk: one file per snapshot, snapshotDir/DOMAIN/SNAPSHOT.xml
// (the <domainsnapshot> with the daemon's own <active>, conf/SnapshotXml.h), kept while
// the domain is defined, as libvirt keeps /var/lib/libvirt/qemu/snapshot/DOMAIN/.
// Every write is atomic (writeFileAtomically): a daemon killed mid-write leaves the old
// file or the new one, and the temporary files it leaves are never loaded.
#pragma once

#include <string>
#include <vector>

#include "SnapshotXml.h"

namespace mica::domain {

class SnapshotStore {
public:
    explicit SnapshotStore(std::string dir) : dir_(std::move(dir)) {}

    // Throws std::runtime_error naming the file.
    void save(const std::string& domain, const conf::SnapshotDef& def) const;
    void remove(const std::string& domain, const std::string& snapshot) const;
    // Every snapshot of the domain (and its directory).
    void removeAll(const std::string& domain) const;
    // Every file that parses, oldest first; one that does not is reported on stderr and
    // skipped, as a definition is.
    std::vector<conf::SnapshotDef> load(const std::string& domain) const;

private:
    std::string domainDir(const std::string& domain) const { return dir_ + "/" + domain; }
    std::string dir_;
};

}  // namespace mica::domain
