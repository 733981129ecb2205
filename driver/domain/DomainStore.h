// Where domains live on disk (design.md, "Names and places"):
//   configDir/NAME.xml            persistent definitions (inactive XML)
//   configDir/autostart/NAME.xml  symlink to the definition: start with the daemon
//   stateDir/NAME.xml             status of a running domain (<domstatus>): what a new
//                                 daemon needs to find and reattach its VMM
//   stateDir/NAME/                the VMM's API socket and event FIFO
//   logDir/NAME.log               the VMM's output and the daemon's notes
//   saveDir/NAME.save             the managed save image (SaveImage.h), if any
// Every write goes to a temporary file, is fsynced and renamed over the old one, so a
// crash leaves either the old or the new file, never half of one.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "DomainDef.h"

namespace mica::domain {

struct StorePaths {
    std::string configDir, stateDir, logDir, saveDir;
};

// What a status file records besides the definition the domain runs with.
struct DomainStatus {
    conf::DomainDef def;          // as started (inactive form) plus the runtime facts below
    int id = -1;
    pid_t pid = 0;
    int state = 0, reason = 0;    // virDomainState and its reason
    std::string serialPty;        // the live /dev/pts/N of the serial port
    std::vector<std::string> createdTaps;   // TAPs to delete when the domain stops
    std::optional<uid_t> vmmUid;            // a confined VMM's uid
    gid_t vmmGid = 0;                       // and gid
    bool persistent = true;
};

class DomainStore {
public:
    explicit DomainStore(StorePaths paths);
    const StorePaths& paths() const { return paths_; }

    std::string runDir(const std::string& name) const { return paths_.stateDir + "/" + name; }
    std::string logPath(const std::string& name) const { return paths_.logDir + "/" + name + ".log"; }
    std::string managedSavePath(const std::string& name) const { return paths_.saveDir + "/" + name + ".save"; }
    bool hasManagedSave(const std::string& name) const;

    void saveConfig(const conf::DomainDef& def) const;
    void removeConfig(const std::string& name) const;
    // Every definition that parses; a file that does not is reported on stderr and
    // skipped (a daemon that refuses to start over one bad file helps nobody).
    std::vector<conf::DomainDef> loadConfigs() const;

    bool autostart(const std::string& name) const;
    void setAutostart(const std::string& name, bool on) const;

    void saveStatus(const DomainStatus& status) const;
    void removeStatus(const std::string& name) const;
    std::vector<DomainStatus> loadStatuses() const;

    // Appends a timestamped line to the domain's log.
    void note(const std::string& name, const std::string& text) const;

private:
    StorePaths paths_;
};

// Writes content to path through a temporary file, fsync and rename. Throws
// std::runtime_error naming the path.
void writeFileAtomically(const std::string& path, const std::string& content);

}  // namespace mica::domain
