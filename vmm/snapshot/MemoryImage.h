// Guest RAM in a snapshot: one file, byte for byte the RAM mapping (offset = the
// mapping's offset, as GuestMemory's regions give it), sparse: a page that reads as
// zeroes is never written, so untouched memory costs no disk blocks and restoring reads
// only what the guest used.
#pragma once

#include "GuestMemory.h"

namespace mica::snapshot {

struct MemoryImageStats {
    uint64_t bytesWritten = 0;  // what went into the file (the rest are holes)
};

// Into `fd` (a new, empty file). Throws Error on a write failure.
MemoryImageStats saveMemory(const GuestMemory& memory, int fd);
// From `fd` into freshly mapped (zero) RAM. Throws StateError when the file's size is
// not the RAM's, Error on a read failure.
void loadMemory(const GuestMemory& memory, int fd);

}  // namespace mica::snapshot
