// Where domains live on disk (design.md, "Names and places"):
//   configDir/NAME.xml            persistent definitions (inactive XML)
//   configDir/autostart/NAME.xml  symlink to the definition: start with the daemon
//   stateDir/NAME/                the domain's directory while it runs or starts: the
//                                 daemon's own (0700; 0711 when its VMM is confined, so
//                                 that VMM can pass through to vmm/ but read nothing else)
//   stateDir/NAME/status.xml      status (<domstatus>): what a new daemon needs to find
//                                 and reattach its VMM, or to clean up a start it did not
//                                 finish ("starting")
//   stateDir/NAME/lock            the VMM lock (process/VmmLock.h): held by the VMM
//   stateDir/NAME/vmm/            the VMM's run directory: API socket, event FIFO, vsock
//                                 sockets (the VMM's own when confined: it must not be
//                                 able to touch the status file, which root acts upon)
//   stateDir/NAME/jail/           a confined VMM's root is mounted over this
//   logDir/NAME.log               the VMM's output and the daemon's notes (0600, dir 0700)
//   saveDir/NAME.save             the managed save image (SaveImage.h), if any
//   snapshotDir/NAME/SNAP.xml     snapshot metadata (SnapshotStore.h): kept while the
//                                 domain is defined, whether it runs or not
// Every name gets a directory or a suffix of its own, so no domain's files can be
// another's ("foo.xml" and "foo" used to share stateDir/foo.xml); names that would
// break that (containing '/', '.', '..', control characters) are refused by the parser.
// Every write goes to a temporary file (".NAME.XXXXXX.tmp": never loaded, never a
// name's), is fsynced, renamed over the old one and its directory fsynced, so a crash
// leaves either the old or the new file, never half of one; leftover temporary files
// are removed when the store opens. Status files of the older flat layout
// (stateDir/NAME.xml beside stateDir/NAME/) are moved into the new one on load.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "DomainDef.h"

namespace mica::domain {

struct StorePaths {
    std::string configDir, stateDir, logDir, saveDir;
    // Snapshot metadata (SnapshotStore.h); empty: "snapshot" beside saveDir.
    std::string snapshotDir;
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
    // A start under way: written before the VMM is spawned (no pid yet) and again once
    // its process exists (before it may run). A daemon that finds one did not finish the
    // start: the VMM, if any, is killed and the domain is shut off.
    bool starting = false;
    std::string startId;                    // tells one start's records from another's
    // Where the VMM's API socket and event FIFO are: DomainStore::runDir, or for a VMM
    // found in the older layout its directory stateDir/NAME.
    std::string vmmDir;
    // False for a VMM started before the lock existed (older layout): it holds none,
    // and the daemon holds the lock for it.
    bool vmmHoldsLock = true;
};

class DomainStore {
public:
    explicit DomainStore(StorePaths paths);
    const StorePaths& paths() const { return paths_; }

    std::string domainDir(const std::string& name) const { return paths_.stateDir + "/" + name; }
    // The VMM's run directory.
    std::string runDir(const std::string& name) const { return domainDir(name) + "/vmm"; }
    std::string jailDir(const std::string& name) const { return domainDir(name) + "/jail"; }
    std::string lockPath(const std::string& name) const { return domainDir(name) + "/lock"; }
    std::string statusPath(const std::string& name) const { return domainDir(name) + "/status.xml"; }
    // The domain's directory, made anew if missing (confined: passable by the VMM's uid).
    void makeDomainDir(const std::string& name, bool confined) const;
    // Everything of a domain that stopped (its VMM is gone).
    void removeDomainDir(const std::string& name) const;
    // Domain directories holding no status file (a start that died before writing one).
    std::vector<std::string> strayDomainDirs() const;
    std::string logPath(const std::string& name) const { return paths_.logDir + "/" + name + ".log"; }
    std::string managedSavePath(const std::string& name) const { return paths_.saveDir + "/" + name + ".save"; }
    bool hasManagedSave(const std::string& name) const;
    // saveDir/saved-on-stop: the domains a stopping daemon managed-saved (on_stop), a
    // name a line, which the next daemon restores; taken (read and removed) once.
    void recordSavedOnStop(const std::vector<std::string>& names) const;
    std::vector<std::string> takeSavedOnStop() const;

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
    void migrateFlatStatuses() const;
    StorePaths paths_;
};

// Writes content to path through a temporary file, fsync, rename and an fsync of the
// directory. Throws std::runtime_error naming the path. crashTag (test only): the prefix
// of the crash points after the temporary file is written and after the rename
// (process/CrashPoint.h).
void writeFileAtomically(const std::string& path, const std::string& content, const char* crashTag = nullptr);
// Whether name is one of writeFileAtomically's temporary files (or the older NAME.new).
bool isTemporaryFile(const std::string& fileName);

}  // namespace mica::domain
