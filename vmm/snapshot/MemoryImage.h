// Guest RAM in a snapshot: one file, byte for byte the RAM mapping (offset = the
// mapping's offset, as GuestMemory's regions give it), sparse: a page that reads as
// zeroes is never written, so untouched memory costs no disk blocks and restoring reads
// only what the guest used.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "GuestMemory.h"

namespace mica::snapshot {

struct MemoryImageStats {
    uint64_t bytesWritten = 0;  // what went into the file (the rest are holes)
};

// Into `fd` (a new, empty file). Throws Error on a write failure.
// `cancel`, when given and set meanwhile, stops it: throws Error("cancelled"), checked
// every 64 MiB of RAM (vm.snapshot's cancel: virtmicad's domjobabort).
MemoryImageStats saveMemory(const GuestMemory& memory, int fd, const std::atomic<bool>* cancel = nullptr);
// How a restore brings guest RAM back (Cloud Hypervisor's memory_restore_mode):
// Copy reads the file's data into RAM before the guest runs; OnDemand maps the file
// private over RAM, so the guest runs at once and each page is read from the file (the
// page cache) when first touched, its writes staying in this process. OnDemand needs
// private anonymous RAM (no memfd, shared or huge pages), and the file must not change
// while the VM lives: taking a new snapshot into the same directory is safe (it writes
// a new file), truncating or rewriting this one in place is not.
enum class MemoryRestoreMode { Copy, OnDemand };
// "copy" / "ondemand"; nullopt for anything else.
std::optional<MemoryRestoreMode> memoryRestoreModeFromString(const std::string& text);

// From `fd`, starting `offset` bytes in (a multiple of 4096: a save image keeps the RAM
// after its other parts), into freshly mapped (zero) RAM. Throws StateError when the
// file does not hold exactly the RAM's size from there, or OnDemand does not fit the
// RAM's backing; Error on a read failure.
void loadMemory(GuestMemory& memory, int fd, MemoryRestoreMode mode = MemoryRestoreMode::Copy, uint64_t offset = 0);

}  // namespace mica::snapshot
