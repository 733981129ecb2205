// DomainDef: what mica keeps of a libvirt domain definition. Only what mica honours (or
// what the platform implies and the XML keeps, see docs/domain-xml.md) has a place here;
// the parser refuses the rest, so nothing a user wrote is silently lost.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "IoLimits.h"
#include "DiskFormat.h"

namespace mica::conf {

enum class LifecycleAction { Destroy, Restart };

struct PciAddress {
    unsigned slot = 0;  // bus 0, function 0: mica has one root bus and no multifunction
};

struct CpuDef {
    // With KVM, maximum is host-passthrough: every feature KVM offers.
    enum class Mode { None, HostPassthrough, Maximum } mode = Mode::None;
    std::optional<std::string> check;       // "none" | "partial" | "full": kept
    std::optional<std::string> migratable;  // "off": kept
    bool hasTopology = false;
    unsigned sockets = 1, dies = 1, cores = 1, threads = 1;
};

struct OsDef {
    std::string arch = "x86_64";
    std::string machine = "mica";
    std::string kernel, initrd, cmdline;
};

struct MemoryBackingDef {
    bool hugepages = false;
    std::string source;  // <source type>: "anonymous" | "memfd"; empty: not given (anonymous)
    std::string access;  // <access mode>: "private" | "shared"; empty: not given (private)
    bool memfd() const { return source == "memfd"; }
    bool shared() const { return access == "shared"; }
    bool present() const { return hugepages || !source.empty() || !access.empty(); }
};

// <serial>/<console> source: mica's char backends.
struct CharSource {
    enum class Type { Pty, File, Unix } type = Type::Pty;
    std::string path;  // file/unix path; for pty the live /dev/pts/N (empty until started)
};

struct SerialDef {  // COM1 (isa-serial port 0)
    CharSource source;
};

// A PCI device's alias (<alias name>): stable for the device's life, the id mica-vmm
// knows it by (a disk's is its target: DiskDef::vmmId) and how a detach or an event names it.
// Empty until DomainDefaults gives one; "ua-..." ones are the user's and kept in the
// definition, the others are the daemon's (live XML only).
inline bool isUserAlias(const std::string& alias) { return alias.rfind("ua-", 0) == 0; }

struct ConsoleDef {  // a virtio console (hvc0)
    CharSource source;
    std::optional<PciAddress> address;
    std::string alias;
};

// One link of a disk's backing chain, as the images' metadata name it.
struct BackingStoreDef {
    enum class Type { File, Block } type = Type::File;
    DiskFormat format = DiskFormat::Raw;
    std::string path;  // resolved as mica-vmm opens it (relative names against the image's directory)
};

struct DiskDef {
    enum class Type { File, Block } type = Type::File;
    std::string source;  // file or block device path
    DiskFormat format = DiskFormat::Raw;  // <driver type>; raw when not given, as libvirt's QEMU driver has it
    // Live only: the backing chain below the source (nearest first) read from the images
    // when the domain started; empty when the image has none; not set while it was not
    // read (a domain that does not run). The user cannot give it (no backingStoreInput).
    std::optional<std::vector<BackingStoreDef>> backingChain;
    std::string target;  // vda, vdb, ...
    std::optional<std::string> cache;    // "none" | "writeback" | "default"
    std::optional<std::string> io;       // "threads"
    std::optional<std::string> discard;  // "unmap" | "ignore"
    unsigned queues = 0;                 // 0: not given (one queue)
    std::optional<std::string> model;    // "virtio"
    bool readonly = false;
    bool shareable = false;              // other domains may use it at the same time
    std::string serial;
    IoLimits iotune;                     // <iotune>; virsh blkdeviotune changes it
    std::optional<PciAddress> address;
    std::string alias;
};

struct NetDef {
    enum class Type { Ethernet, Bridge } type = Type::Ethernet;
    std::string bridge;     // type bridge: <source bridge>
    std::string targetDev;  // TAP name; empty: mica names it when the domain starts
    std::string mac;        // lower case; generated 52:54:00:xx:xx:xx when absent
    std::optional<unsigned> mtu;
    unsigned queues = 0;
    std::optional<PciAddress> address;
    std::string alias;
};

struct RngDef {
    std::string backend = "/dev/urandom";
    std::optional<PciAddress> address;
    std::string alias;
};

struct BalloonDef {
    bool present = false;  // false: <memballoon model='none'/>
    bool freePageReporting = false;
    bool freePageReportingGiven = false;
    std::optional<bool> autodeflate;  // VIRTIO_BALLOON_F_DEFLATE_ON_OOM; absent: off
    std::optional<PciAddress> address;
    std::string alias;
};

struct VsockDef {
    bool autoCid = true;
    unsigned cid = 0;  // given address, or the one allocated at start (live XML)
    std::optional<PciAddress> address;
    std::string alias;
};

struct ControllerDef {  // kept, never emulated beyond the root bus: see docs/domain-xml.md
    std::string type, model;
    std::optional<unsigned> index, ports, masterStartport;
};

struct ClockTimer {  // kept: values mica's fixed RTC/PIT/no-HPET behaviour already matches
    std::string name, tickpolicy, present;
};

// <cputune>, <memtune>, <blkiotune>: what the VMM's cgroup is set to (Tuning.h says
// which element is which cgroup file). Unset: the cgroup's default.
struct TuneDef {
    std::optional<uint64_t> cpuShares;          // <cputune><shares>
    std::optional<uint64_t> globalPeriod;       // <cputune><global_period>, µs
    std::optional<uint64_t> globalQuota;        // <cputune><global_quota>, µs; unset: no limit
    std::optional<uint64_t> hardLimitKiB;       // <memtune><hard_limit>
    std::optional<uint64_t> softLimitKiB;       // <memtune><soft_limit>
    std::optional<uint64_t> swapHardLimitKiB;   // <memtune><swap_hard_limit>
    std::optional<uint64_t> blkioWeight;        // <blkiotune><weight>
    // <cputune><vcpupin vcpu cpuset>: vCPU -> host CPUs (the VMM's cpus.affinity).
    std::map<unsigned, std::set<unsigned>> vcpuPin;
    // <cputune><emulatorpin cpuset>: host CPUs of the VMM's other threads; empty: any.
    std::set<unsigned> emulatorPin;
    bool operator==(const TuneDef&) const = default;
    // Whether anything here needs the VMM's cgroup (the pins do not).
    bool needsCgroup() const
    {
        return cpuShares || globalPeriod || globalQuota || hardLimitKiB || softLimitKiB || swapHardLimitKiB || blkioWeight;
    }
};

// <seclabel model='dac'>: the uid and gid the VMM runs as (SecLabel.h).
struct SecLabelDef {
    bool isStatic = false;   // type='static': `label`; dynamic: the daemon's vmm_uids/vmm_user
    std::string label;       // "USER:GROUP", names or "+N"; of a dynamic one, what runs (live only)
};

struct DomainDef {
    int id = -1;  // live only
    std::string name;
    std::string uuid;  // lower-case canonical form
    std::string title, description;
    std::vector<std::string> metadata;  // each a standalone XML element, verbatim

    uint64_t memoryKiB = 0;         // <memory>
    uint64_t currentMemoryKiB = 0;  // <currentMemory> (== memory when absent)

    unsigned vcpusMax = 1;
    unsigned vcpusCurrent = 1;

    CpuDef cpu;
    OsDef os;
    bool acpi = false, apic = false, pae = false;
    bool vmportOff = false;  // <vmport state='off'/>: mica has no VMware port
    std::string clockOffset = "utc";
    bool clockGiven = false;
    std::vector<ClockTimer> timers;
    LifecycleAction onPoweroff = LifecycleAction::Destroy;
    LifecycleAction onReboot = LifecycleAction::Restart;
    LifecycleAction onCrash = LifecycleAction::Destroy;
    bool pmGiven = false;  // <pm> with suspend-to-mem/-disk disabled
    MemoryBackingDef memoryBacking;
    TuneDef tune;
    std::optional<SecLabelDef> seclabel;

    std::string emulator;
    std::vector<DiskDef> disks;
    std::vector<NetDef> nets;
    std::optional<SerialDef> serial;
    bool consoleOnSerial = false;  // a <console> with target type serial was given
    std::optional<ConsoleDef> console;
    std::optional<RngDef> rng;
    BalloonDef balloon;
    std::optional<VsockDef> vsock;
    std::string pciRootModel = "pcie-root";
    std::vector<ControllerDef> usbControllers;
    bool videoNone = false;  // <video><model type='none'/></video>
};

}  // namespace mica::conf
