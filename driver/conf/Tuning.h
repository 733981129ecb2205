// The tunables of a domain's VMM cgroup (virsh schedinfo, memtune, blkiotune), declared
// once as data: the XML element libvirt gives each, its typed-parameter name, the
// values it takes and the cgroup v2 file it sets (as libvirt's cgroup v2 backend maps
// them).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "DomainDef.h"
#include "Xml.h"

namespace mica::conf {

enum class TuneGroup { Scheduler, Memory, Blkio };

// The typed parameter's type on the wire. LLong ones take -1 for "no limit" (unset).
enum class ParamType { UInt, ULLong, LLong };

struct Tunable {
    TuneGroup group;
    const char* param;        // typed parameter (VIR_DOMAIN_SCHEDULER_CPU_SHARES, ...)
    const char* parent;       // XML: cputune, memtune, blkiotune
    const char* element;      // XML: shares, hard_limit, ...
    std::optional<uint64_t> TuneDef::*field;
    bool kib;                 // a memory size in KiB; VIR_DOMAIN_MEMORY_PARAM_UNLIMITED is "max"
    ParamType type;
    uint64_t min, max;        // accepted values
    uint64_t unset;           // what a query reports when it is not set (the cgroup default; LLong: -1)
    const char* controller;   // cgroup v2 controller
    const char* file;         // cgroup v2 file
};

extern const std::vector<Tunable> kTunables;

// VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, in KiB.
inline constexpr uint64_t kMemoryUnlimited = 9007199254740991ull;

// Checks one value against the tunable; throws ConfError (invalid argument) naming it.
void checkTunable(const Tunable& t, uint64_t value);
// What t's cgroup file gets for the values in `tune` (cpu.max holds two: quota and period).
std::string cgroupValue(const Tunable& t, const TuneDef& tune);

// libvirt's cpuset syntax ("0-3,^2,5"): parsed (ConfError naming `what` when malformed
// or empty) and written back as ranges ("0-1,3,5").
std::set<unsigned> parseCpuset(const std::string& text, const std::string& what);
std::string formatCpuset(const std::set<unsigned>& cpus);

// <cputune>, <memtune>, <blkiotune> of a <domain>: read (ConfError for what mica does
// not take; the vCPU pins checked against def's vCPUs), and written as children of
// `domain` (only those with a value set).
void parseTuning(ElementReader& domain, DomainDef& def);
void formatTuning(const TuneDef& tune, const char* parent, xmlNode* domain);

}  // namespace mica::conf
