// A new qcow2 overlay, as `qemu-img create -f qcow2 -b BACKING -F FORMAT` makes one:
// version 3, 64 KiB clusters, 16-bit refcounts, the backing file's name and format in
// the header, no cluster allocated, and refcounts that cover exactly its metadata (so
// `qemu-img check` finds nothing). What `vm.disk-snapshot` puts on top of a running
// disk's chain.
#pragma once

#include <cstdint>
#include <string>

#include "DiskImage.h"

namespace mica::block {

// Writes the overlay into `fd`, an empty regular file open for writing (created by the
// VMM or handed over by its caller), and syncs it. `size`: the guest's disk;
// `backingName`: what the header names (resolved against the overlay's directory when
// relative). Throws Error "PATH: reason".
void createQcow2Overlay(int fd, const std::string& path, uint64_t size, const std::string& backingName,
                        ImageType backingType);

}  // namespace mica::block
