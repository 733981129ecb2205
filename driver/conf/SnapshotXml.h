// libvirt's <domainsnapshot> XML as mica keeps it: external snapshots (each chosen disk
// gets a new qcow2 overlay; the guest's memory, if saved, goes to a file of its own). Two readers of
// the same element: what a client sends to virDomainSnapshotCreateXML (name,
// description, memory, disks), refused strictly beyond that; and the metadata the daemon
// stored itself (plus creationTime, state, parent, the domain as it was, and whether it
// is the current snapshot). A client's XML is untrusted input: tests/driver/conf's
// fuzz_snapshot_xml feeds it arbitrary bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "DiskFormat.h"

namespace mica::conf {

struct SnapshotDiskDef {
    std::string name;                    // as given (target or source); the target once aligned
    enum class Mode { External, No } snapshot = Mode::External;
    std::string file;                    // External: the overlay; empty until a default is chosen
    DiskFormat format = DiskFormat::Qcow2;
};

struct SnapshotDef {
    std::string name;                    // empty in a client's XML: the creation time is its name
    std::string description;
    // <memory snapshot='external' file='...'/>: the guest's RAM and device state go to
    // this file (a save image, SaveImage.h); empty: <memory snapshot='no'/>, disks only.
    std::string memoryFile;
    std::vector<SnapshotDiskDef> disks;
    // Metadata (the daemon's own records; a client cannot give them).
    std::int64_t creationTime = 0;       // seconds since the epoch
    std::string state = "disk-snapshot"; // the domain's state as the snapshot holds it
    std::string parent;                  // empty: a root
    std::string domainXml;               // the <domain> it was taken of (inactive form)
    bool current = false;
};

// A client's <domainsnapshot>. Throws ConfError (VIR_ERR_XML_ERROR for malformed or
// invalid XML, VIR_ERR_CONFIG_UNSUPPORTED for what mica does not do).
SnapshotDef parseSnapshotXml(const std::string& xml);
// A metadata file written by formatSnapshotXml(def, true). Throws ConfError.
SnapshotDef parseSnapshotMetadata(const std::string& xml);
// libvirt's layout (virsh snapshot-dumpxml); `internal` adds <active> (is current),
// which only the metadata file holds.
std::string formatSnapshotXml(const SnapshotDef& def, bool internal = false);

// Whether a name may be a snapshot's: its metadata file is NAME.xml in the domain's
// snapshot directory. Throws ConfError (VIR_ERR_XML_ERROR) naming the problem.
void checkSnapshotName(const std::string& name);

}  // namespace mica::conf
