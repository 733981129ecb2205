// The configuration of one VM: what the command line builds and (with the REST API)
// what vm.create receives as JSON. One type, so both ways of starting a VM agree, and
// one check of it (ValidateConfig.h) for the command line, vm.create and vm.restore.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <cctype>
#include <string>
#include <vector>

#include "CharBackend.h"
#include "Cpuid.h"
#include "DiskImage.h"
#include "IoLimits.h"
#include "IoEngine.h"
#include "Error.h"
#include "UniqueFd.h"

namespace mica {

// A configuration that breaks a rule; the message names the field by its JSON path.
class ConfigError : public Error {
public:
    using Error::Error;
};

// "52:54:00:12:34:56": six hex pairs with colons (the command line and the JSON both check).
inline bool isMacAddress(const std::string& mac)
{
    bool ok = mac.size() == 17;
    for (size_t i = 0; ok && i < mac.size(); ++i)
        ok = i % 3 == 2 ? mac[i] == ':' : std::isxdigit(static_cast<unsigned char>(mac[i])) != 0;
    return ok;
}

struct PayloadConfig {
    std::string kernel;
    std::string initramfs;  // empty: none
    std::string cmdline;
};

struct CpusConfig {
    unsigned boot = 1;
    unsigned max = 1;                // >= boot; the rest can be hot-plugged later
    x86::CpuTopology topology;       // sockets x cores x threads == max
    // vCPU -> the host CPUs its thread may run on (Cloud Hypervisor's cpus.affinity); a
    // vCPU not named runs where the thread that started it may.
    std::map<unsigned, std::vector<unsigned>> affinity;
};

struct MemoryConfig {
    uint64_t size = 512ull << 20;
    bool hugePages = false;
    bool memfd = false;   // back RAM with a memfd rather than anonymous memory
    bool shared = false;  // map it shared (vhost-user back ends need it); private otherwise
};

// What every PCI device carries: an id that names it in the API, in messages and in a
// snapshot, and its slot on bus 0. Both may be given; resolveDevices() fills in the
// rest (ids "vda", "net0", "rng0", ...; the lowest free slots in the order devices are
// listed), so a VM's config always holds the whole answer and a restore or a reboot
// puts every device back where it was.
struct PciDeviceConfig {
    std::string id;
    std::optional<unsigned> pciSlot;
};

struct DiskConfig : PciDeviceConfig {
    std::string path;
    block::ImageType imageType = block::ImageType::Raw;  // from the config, never from the file
    bool readOnly = false;
    bool shared = false;     // other VMs may open it too (a shared lock even when writable)
    bool direct = false;     // O_DIRECT: bypass the host page cache
    unsigned numQueues = 1;
    std::string serial;      // what the guest reads as the disk's id (at most 20 bytes)
    bool discard = true;     // offer DISCARD to the guest (libvirt's discard='unmap')
    IoLimits iotune;  // I/O limits (libvirt's <iotune>); none by default
    // Who serves its reads and writes: io_uring (raw images only) or worker threads;
    // Auto: io_uring for a raw image when the kernel gives a ring. The one used is
    // in vm.info's device_tree.
    block::IoEngineKind ioEngine = block::IoEngineKind::Auto;
};

struct NetConfig : PciDeviceConfig {
    std::string tap;         // a TAP interface by name (created if missing, needs CAP_NET_ADMIN) ...
    std::vector<unsigned> fds;  // ... or open TAP queues (IFF_VNET_HDR), one per queue pair: indexes into VmConfig::handedFds
    std::string mac;         // "52:54:00:12:34:56"; empty: 52:54:00:12:34:(0x56 + index)
    unsigned numQueues = 2;  // receive + transmit queues, even; pairs = numQueues / 2
    unsigned mtu = 0;        // told to the guest (VIRTIO_NET_F_MTU); 0: not told
};

struct ConsoleConfig : PciDeviceConfig {
    bool enabled = false;    // a virtio-console (hvc0) exists only when asked for
    CharBackendConfig backend{CharBackendConfig::Kind::Off, {}};
};

struct RngConfig : PciDeviceConfig {
    bool enabled = false;
    std::string source = "/dev/urandom";
};

struct VsockConfig : PciDeviceConfig {
    bool enabled = false;
    uint64_t cid = 3;        // the guest's context id, at least 3
    std::string socket;      // host side: PATH (host connects) and PATH_<port> (guest connects)
};

struct BalloonConfig : PciDeviceConfig {
    bool enabled = false;
    uint64_t size = 0;              // what the guest gives back (vm.resize changes it)
    bool freePageReporting = false;
    // VIRTIO_BALLOON_F_DEFLATE_ON_OOM (libvirt's autodeflate): the guest may take pages back
    // when it runs out, and then keeps counting the balloon in its MemTotal. Off, as libvirt's
    // default: an inflated balloon leaves the guest's MemTotal.
    bool deflateOnOom = false;
};

struct VmConfig {
    PayloadConfig payload;
    CpusConfig cpus;
    MemoryConfig memory;
    CharBackendConfig serial{CharBackendConfig::Kind::Tty, {}};
    std::vector<DiskConfig> disks;
    std::vector<NetConfig> nets;
    ConsoleConfig console;
    RngConfig rng;
    VsockConfig vsock;
    BalloonConfig balloon;
    // Fds handed to the VMM with the configuration: those that came with the vm.create
    // or vm.restore request (SCM_RIGHTS), or the command line's --net fd=N. Devices name
    // them by index, so the JSON form stays meaningful; shared, because every copy of
    // the config (each boot, a reboot) builds from the same open files. An entry no
    // device names is null: it was closed when the config was read.
    std::vector<std::shared_ptr<const UniqueFd>> handedFds;
    // Files the caller opened for the VMM ("handed_files": path -> index in handedFds):
    // the kernel, initramfs and disk images of a VMM that runs as a uid which may not
    // open them itself. Whatever opens one of these paths takes the handed file instead
    // (handedFile()); the path still names it in messages and in the saved config.
    std::map<std::string, unsigned> handedFiles;

    // A new fd on the handed file for `path` (same open file description), or an empty
    // one when the caller handed none: then open the path.
    UniqueFd handedFile(const std::string& path) const
    {
        auto it = handedFiles.find(path);
        if (it == handedFiles.end() || it->second >= handedFds.size() || !handedFds[it->second])
            return {};
        UniqueFd fd(::fcntl(handedFds[it->second]->get(), F_DUPFD_CLOEXEC, 3));
        if (!fd)
            throw systemError(path + ": " + "dup");
        return fd;
    }
};

}  // namespace mica
