#include "Capabilities.h"

#include <libvirt/virterror.h>
#include <sys/stat.h>

#include <filesystem>

#include "CapabilitiesXml.h"
#include "DomainCapabilitiesXml.h"
#include "DomainCapsArgs.h"
#include "HostProbe.h"
#include "i18n.h"

namespace mica::caps {

// What a probe depends on and may change under a running daemon: loading kvm modules
// (or a fixture edit) touches /dev/kvm, upgrades replace the VMM, packages add or remove
// firmware descriptors. A stat of each costs microseconds, so every call checks.
struct Capabilities::Watched {
    std::string path;
    bool exists = false;
    struct timespec mtime {};

    static Watched of(std::string path)
    {
        Watched w;
        w.path = std::move(path);
        struct stat st {};
        if (::stat(w.path.c_str(), &st) == 0) {
            w.exists = true;
            w.mtime = st.st_mtim;
        }
        return w;
    }
    bool changed() const
    {
        Watched now = of(path);
        return now.exists != exists || now.mtime.tv_sec != mtime.tv_sec || now.mtime.tv_nsec != mtime.tv_nsec;
    }
};

struct Capabilities::Snapshot {
    std::shared_ptr<const HostInfo> host;
    std::string hostXml;
    std::string domainXml;
    std::vector<Watched> watched;
};

// <path> and <emulator> must be absolute (libvirt's schemas say so, and clients compare
// them with the <emulator> of domain XML), whatever the caller passed.
Capabilities::Capabilities(Options opts)
    : opts_(std::move(opts)), vmmPath_(std::filesystem::absolute(findVmm(opts_.vmmPath)).lexically_normal())
{
}

Capabilities::~Capabilities() = default;

// Paths known before probing; descriptor files are added once the scan has found them.
std::vector<Capabilities::Watched> Capabilities::watchList() const
{
    const HostRoot root(opts_.root);
    std::vector<Watched> w;
    w.push_back(Watched::of(root.path("/dev/kvm")));
    w.push_back(Watched::of(vmmPath_));
    if (!opts_.vmmFeaturesFile.empty())
        w.push_back(Watched::of(opts_.vmmFeaturesFile));
    for (const auto& dir : firmwareDirectories(root))
        w.push_back(Watched::of(root.path(dir)));  // a descriptor added or removed
    return w;
}

std::shared_ptr<const Capabilities::Snapshot> Capabilities::current()
{
    std::lock_guard lock(mutex_);
    if (snapshot_) {
        bool stale = false;
        for (const auto& w : snapshot_->watched)
            if (w.changed()) {
                stale = true;
                break;
            }
        if (!stale)
            return snapshot_;
    }
    ProbeSources src;
    src.root = opts_.root;
    src.vmmPath = vmmPath_;
    src.vmmFeaturesFile = opts_.vmmFeaturesFile;
    if (!opts_.cpuMapDir.empty())
        src.cpuMapDir = opts_.cpuMapDir;
    auto snap = std::make_shared<Snapshot>();
    // Stat before probing: a change that lands during the probe then shows up as stale
    // next time instead of being lost.
    snap->watched = watchList();
    auto host = std::make_shared<HostInfo>();
    try {
        *host = probeHost(src);
    } catch (const std::exception& e) {
        throw CapsError(VIR_ERR_INTERNAL_ERROR, std::string(_("cannot probe host capabilities: ")) + e.what());
    }
    const HostRoot root(opts_.root);
    for (const auto& file : host->firmware.files)
        snap->watched.push_back(Watched::of(root.path(file)));
    ++probes_;
    snap->hostXml = formatCapabilities(*host);
    snap->domainXml = formatDomainCapabilities(*host);
    snap->host = std::move(host);
    snapshot_ = snap;
    return snap;
}

std::shared_ptr<const HostInfo> Capabilities::host()
{
    return current()->host;
}

std::string Capabilities::hostXml()
{
    return current()->hostXml;
}

std::string Capabilities::domainXml(const std::optional<std::string>& emulatorbin,
                                    const std::optional<std::string>& arch, const std::optional<std::string>& machine,
                                    const std::optional<std::string>& virttype)
{
    checkDomainCapsArgs(emulatorbin, arch, machine, virttype, vmmPath_);
    return current()->domainXml;
}

}  // namespace mica::caps
