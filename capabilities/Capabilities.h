// The interface the daemon and mica-domcaps use: libvirt `capabilities` and
// `domainCapabilities` XML for this host, probed once and cached until /dev/kvm, the VMM
// binary or a firmware descriptor changes.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mica::caps {

struct CapsError : std::runtime_error {
    int code;  // virErrorNumber from <libvirt/virterror.h>
    CapsError(int code, const std::string& msg) : std::runtime_error(msg), code(code) {}
};

struct Options {
    std::string root = "/";
    std::string vmmPath;  // empty: find it (explicit, $MICA_VMM, build tree, libexecdir)
    // Tests: the VMM's recorded `--features` answer, read instead of running vmmPath.
    std::string vmmFeaturesFile;
    std::string cpuMapDir;  // empty: libvirt's installed cpu_map
};

struct HostInfo;

class Capabilities {  // thread-safe
public:
    explicit Capabilities(Options);
    ~Capabilities();

    std::string hostXml();
    // Empty optional = argument not given (virsh passes NULL). Throws CapsError.
    std::string domainXml(const std::optional<std::string>& emulatorbin, const std::optional<std::string>& arch,
                          const std::optional<std::string>& machine, const std::optional<std::string>& virttype);

    // The resolved VMM path and the probe behind the documents (re-probing if stale).
    std::string vmmPath() const { return vmmPath_; }
    std::shared_ptr<const HostInfo> host();
    // How many times the host was probed; tests use it to check the cache.
    unsigned probeCount() const { return probes_; }

private:
    struct Snapshot;
    struct Watched;
    std::shared_ptr<const Snapshot> current();
    std::vector<Watched> watchList() const;

    Options opts_;
    std::string vmmPath_;
    std::mutex mutex_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::atomic<unsigned> probes_{0};
};

}  // namespace mica::caps
