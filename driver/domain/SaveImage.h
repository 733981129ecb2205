// A save image (`virsh save`, `managedsave`): one file holding the domain XML and the
// VMM's snapshot (docs/vmm-api.md, "Snapshots"), so a user handles one path, as with
// libvirt's QEMU driver. Layout, integers little-endian:
//
//   0   magic "MicaSave"
//   8   u32 format version (kSaveImageVersion)
//   12  u32 flags: bit 0 the domain ran when saved (restore resumes it); others 0
//   16  u64 XML length        24  u64 config.json length   32  u64 state.json length
//   40  u64 memory offset     48  u64 memory length        56  u64 reserved, 0
//   64  the XML, then config.json, then state.json, zero padding to the memory offset
//       (the next 4 KiB boundary), then the snapshot's memory file, holes kept as holes
//
// The file must end exactly where the memory ends: a truncated copy is refused rather
// than restored with zeroes where its RAM was.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>

namespace mica::domain {

inline constexpr char kSaveImageMagic[8] = {'M', 'i', 'c', 'a', 'S', 'a', 'v', 'e'};
inline constexpr std::uint32_t kSaveImageVersion = 1;
inline constexpr std::size_t kSaveImageHeaderSize = 64;
inline constexpr std::uint32_t kSaveImageWasRunning = 1;

// What a save image's header says. The parser has checked every length and offset.
struct SaveImageHeader {
    std::uint32_t version = 0;
    std::uint32_t flags = 0;
    std::uint64_t xmlLength = 0, configLength = 0, stateLength = 0;
    std::uint64_t memoryOffset = 0, memoryLength = 0;
    bool wasRunning() const { return flags & kSaveImageWasRunning; }
};

// The file is not a save image this daemon can read; the message says why.
class SaveImageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The first kSaveImageHeaderSize bytes of a file of fileSize bytes (fewer: truncated).
// Throws SaveImageError.
SaveImageHeader parseSaveImageHeader(std::span<const std::uint8_t> bytes, std::uint64_t fileSize);

// The header and the domain XML of the save image at path. Throws SaveImageError.
struct SaveImageInfo {
    SaveImageHeader header;
    std::string xml;
};
SaveImageInfo readSaveImage(const std::string& path);

// Packs the snapshot directory snapshotDir (config.json, state.json, memory) and xml
// into a new save image at path: written under a temporary name in path's directory,
// fsynced and renamed, so path never holds half an image and a failure leaves nothing
// behind. Throws std::runtime_error naming the path and the cause (ENOSPC, EACCES, ...).
// `progress` (when given) hears the RAM bytes copied so far and returns false to stop:
// the copy then throws SaveImageAborted and leaves no file.
void writeSaveImage(const std::string& snapshotDir, const std::string& xml, bool wasRunning, const std::string& path,
                    const std::function<bool(std::uint64_t)>& progress = {});
class SaveImageAborted : public std::runtime_error {
public:
    SaveImageAborted() : std::runtime_error("aborted") {}
};

// The save image at path with another domain XML and running flag (virsh
// save-image-define, managedsave-define): rewritten whole as writeSaveImage writes one,
// its snapshot copied unchanged. Throws SaveImageError for a bad image,
// std::runtime_error for a failing read or write.
void redefineSaveImage(const std::string& path, const std::string& xml, bool wasRunning);

// Unpacks the snapshot's config.json and state.json from the save image at path into
// the existing directory dir for vm.restore, and says where the RAM is: the VMM reads
// it from the image itself (vm.restore's memory_fd and memory_offset), so a restore
// copies it once. Throws SaveImageError for a bad image, std::runtime_error for a
// failing read or write.
SaveImageHeader extractSaveImage(const std::string& path, const std::string& dir);

}  // namespace mica::domain
