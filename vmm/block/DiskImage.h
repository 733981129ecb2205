// What a virtual disk is to the device in front of it: a size and byte-addressed reads
// and writes, whatever format holds the bytes. Every format (RawImage, Qcow2Image, ...)
// is one of these; openImage() picks the class from the configuration, never from the
// file's contents (a raw image whose guest wrote a qcow2 header stays raw).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Error.h"
#include "UniqueFd.h"
#include "i18n.h"

namespace mica::block {

enum class ImageType { Raw, Qcow2, Vhd, Vhdx };

// Reads `length` bytes at `offset` of an image's file (zeroes past its end): how the
// formats' metadata parsers read, whether from an open RawImage or a plain fd.
using ReadAt = std::function<void(uint64_t offset, void* data, size_t length)>;

// "raw", "qcow2", "vhd", "vhdx": the names of VmConfig's image_type and the CLI.
const char* imageTypeName(ImageType type);
std::optional<ImageType> imageTypeFromName(const std::string& name);

class DiskImage {
public:
    virtual ~DiskImage() = default;

    // The size the guest sees, in bytes.
    virtual uint64_t size() const = 0;
    virtual bool readOnly() const = 0;
    virtual const std::string& path() const = 0;
    // Whole transfers or an Error. Reads past what the image holds (unallocated, past
    // a shorter backing file) read zeroes.
    virtual void readv(uint64_t offset, const std::vector<iovec>& iov) = 0;
    virtual void writev(uint64_t offset, const std::vector<iovec>& iov) = 0;
    virtual void flush() = 0;
    // [offset, offset + length) reads as zeroes afterwards; discard may also give the
    // space back to the host.
    virtual void discard(uint64_t offset, uint64_t length) = 0;
    virtual void writeZeroes(uint64_t offset, uint64_t length) = 0;
    // Grows the disk to `newSize` bytes (a multiple of 512; what the guest then sees
    // past the old end reads as zeroes) or throws Error: shrinking (the guest's data past
    // the new end would go), a read-only image, a format or file that cannot grow.
    void resize(uint64_t newSize)
    {
        if (readOnly())
            throw Error(path() + ": " + _("read-only"));
        if (newSize < size())
            throw Error(path() + ": " + _("shrinking a disk is not supported (the guest's data past the new end would be lost)"));
        grow(newSize);
    }
    // The image whose file an engine may read and write itself (io_uring: a raw image's
    // bytes are the guest's): this one, or the one it hands every request to unchanged.
    virtual DiskImage& direct() { return *this; }
    // Its file's lock becomes shared (it was exclusive while the image was the disk's
    // writable top): a disk-only snapshot made it a read-only backing, which a commit
    // into an image above it opens again, as every backing, under a shared lock.
    virtual void shareLock() {}

protected:
    // resize() of a writable image to at least its size.
    virtual void grow(uint64_t newSize) = 0;
};

struct ImageOptions {
    ImageType type = ImageType::Raw;
    bool readOnly = false;
    bool direct = false;  // O_DIRECT on every file of the image (and its backing chain)
    bool shared = false;  // a shared lock even when writable (libvirt's <shareable/>)
    // The caller's open file for a path (VmConfig::handedFile) or an empty fd: then the
    // path is opened. Asked for the image and for each backing file.
    std::function<UniqueFd(const std::string& path)> handedFile;
    // The image's own file takes no lock (its backing files do): the caller holds one on
    // it already, a block job reopening a link of a running disk's chain for writing.
    bool unlocked = false;
};

// A backing file as an image's metadata names it: the path (resolved against the
// image's directory when relative) and its format, which must be stated in the image
// (qcow2's backing format extension): a backing file of unstated format is refused.
struct BackingReference {
    std::string path;
    ImageType type;
};

// Backing chains deeper than this are refused (a loop would be endless).
constexpr unsigned kMaxBackingDepth = 16;

// Opens `path` as options.type, and its backing chain (read-only, shared), each file at
// most once. Throws Error "PATH: reason".
std::unique_ptr<DiskImage> openImage(const std::string& path, const ImageOptions& options);

// What an image's metadata says, read without locking or opening the chain (the image
// may be in use by a running VMM): what virtmicad hands the VMM, writes as
// <backingStore> and answers `virsh domblkinfo` with.
struct ImageInfo {
    uint64_t virtualSize = 0;                // the guest's disk
    std::optional<BackingReference> backing;  // the next link, if any
};
// Throws Error "PATH: reason" when the file cannot be read or its metadata does not parse.
ImageInfo readImageInfo(const std::string& path, ImageType type);

}  // namespace mica::block
