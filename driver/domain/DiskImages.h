// A domain's disk images as the host holds them, read through mica-vmm's own format
// parsers (vmm/block's readImageInfo, which locks nothing, so a running VMM's images may
// be read): each disk's backing chain, and the sizes `virsh domblkinfo` reports. The
// images' formats come from the definition, never from the files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "DomainDef.h"

namespace mica::domain {

// The chain below disk's source, nearest first, as its images' metadata name it.
// Throws rpc::RpcError (VIR_ERR_OPERATION_INVALID, naming the disk) for an image that
// cannot be read, a link of unstated format, a loop or a chain deeper than
// block::kMaxBackingDepth.
std::vector<conf::BackingStoreDef> readBackingChain(const conf::DiskDef& disk);

// Every backing file of def's disks (their chains read first: backingChain set).
std::vector<std::string> backingFiles(const conf::DomainDef& def);

// virDomainBlockInfo, as libvirt's QEMU driver reads it from the host: capacity is the
// guest's disk (the image's virtual size), allocation the bytes the file occupies on
// the host, physical the file's size; for a block device all three are its size.
struct BlockInfo {
    std::uint64_t capacity = 0, allocation = 0, physical = 0;
};
// Throws rpc::RpcError when the image cannot be read.
BlockInfo readBlockInfo(const conf::DiskDef& disk);

// A shut-off domain's disk-only snapshot: a new qcow2 overlay written into `fd` (an
// empty file at `path`) over the disk's source, of the disk's size, naming the source
// and its format in its header. Throws rpc::RpcError naming the disk.
void writeOverlay(const conf::DiskDef& disk, int fd, const std::string& path);

// A shut-off domain's commit: what the images above `base` in disk's chain hold is copied
// into base (a link of that chain), through vmm/block's own commit job as a running
// VMM's `virsh blockcommit --active --pivot` does it; the images above are left as they
// are, for the caller to remove. Blocking. Throws rpc::RpcError naming the disk.
void commitOffline(const conf::DiskDef& disk, const std::string& base);

}  // namespace mica::domain
