#include "Qcow2Create.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "BigEndian.h"
#include "Error.h"
#include "i18n.h"

namespace mica::block {

namespace {

constexpr uint32_t kMagic = 0x514649fb;
constexpr uint32_t kClusterBits = 16;
constexpr uint64_t kClusterSize = uint64_t(1) << kClusterBits;
constexpr uint32_t kRefcountOrder = 4;  // 16-bit refcounts, QEMU's default
constexpr uint32_t kHeaderLength = 104;
constexpr uint32_t kExtBackingFormat = 0xe2792aca;
constexpr uint32_t kMaxBackingName = 1023;  // what Qcow2Header (and QEMU) read back

void writeAll(int fd, const std::string& path, const std::vector<uint8_t>& bytes, uint64_t offset)
{
    for (size_t done = 0; done < bytes.size();) {
        ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw systemError(path);
        done += static_cast<size_t>(n);
    }
}

}  // namespace

void createQcow2Overlay(int fd, const std::string& path, uint64_t size, const std::string& backingName,
                        ImageType backingType)
{
    // QEMU names VHD "vpc"; the backing format extension holds QEMU's names.
    std::string format = backingType == ImageType::Vhd ? "vpc" : imageTypeName(backingType);
    if (backingName.empty() || backingName.size() > kMaxBackingName || backingName.find('\0') != std::string::npos)
        throw Error(path + ": " + _("the backing file name is empty or longer than 1023 bytes: ") + backingName);
    struct stat st{};
    if (::fstat(fd, &st) < 0)
        throw systemError(path);
    if (!S_ISREG(st.st_mode) || st.st_size != 0)
        throw Error(path + ": " + _("an overlay is written into an empty regular file only"));

    // Cluster 0: header, backing format extension, end extension, backing name;
    // cluster 1: the refcount table; cluster 2: its first refcount block; then the L1
    // table (one entry per 512 MiB of disk, all unallocated).
    const uint64_t perL1 = kClusterSize * (kClusterSize / 8);
    const uint64_t l1Entries = (size + perL1 - 1) / perL1;
    const uint64_t l1Clusters = std::max<uint64_t>(1, (l1Entries * 8 + kClusterSize - 1) / kClusterSize);
    const uint64_t refcountTableAt = kClusterSize, refcountBlockAt = 2 * kClusterSize, l1At = 3 * kClusterSize;
    const uint64_t clusters = 3 + l1Clusters;
    // One refcount block covers 32768 clusters (2 GiB of file): the L1 table of a disk
    // up to 2 PiB fits.
    if (clusters > kClusterSize * 8 / 16 || l1Entries > 0xffffffffu)
        throw Error(path + ": " + _("the disk is too large for an overlay"));

    std::vector<uint8_t> header(kClusterSize, 0);
    uint8_t* h = header.data();
    storeBe<uint32_t>(h + 0, kMagic);
    storeBe<uint32_t>(h + 4, 3);
    storeBe<uint32_t>(h + 20, kClusterBits);
    storeBe<uint64_t>(h + 24, size);
    storeBe<uint32_t>(h + 36, static_cast<uint32_t>(l1Entries));
    storeBe<uint64_t>(h + 40, l1At);
    storeBe<uint64_t>(h + 48, refcountTableAt);
    storeBe<uint32_t>(h + 56, 1);  // refcount table clusters
    storeBe<uint32_t>(h + 96, kRefcountOrder);
    storeBe<uint32_t>(h + 100, kHeaderLength);
    uint64_t at = kHeaderLength;
    storeBe<uint32_t>(h + at, kExtBackingFormat);
    storeBe<uint32_t>(h + at + 4, static_cast<uint32_t>(format.size()));
    std::copy(format.begin(), format.end(), h + at + 8);
    at += 8 + ((format.size() + 7) & ~size_t(7));
    at += 8;  // the end extension: type 0, length 0
    storeBe<uint64_t>(h + 8, at);
    storeBe<uint32_t>(h + 16, static_cast<uint32_t>(backingName.size()));
    std::copy(backingName.begin(), backingName.end(), h + at);

    std::vector<uint8_t> refcountTable(kClusterSize, 0);
    storeBe<uint64_t>(refcountTable.data(), refcountBlockAt);
    std::vector<uint8_t> refcountBlock(kClusterSize, 0);
    for (uint64_t c = 0; c < clusters; ++c)
        storeBe<uint16_t>(&refcountBlock[c * 2], 1);

    writeAll(fd, path, header, 0);
    writeAll(fd, path, refcountTable, refcountTableAt);
    writeAll(fd, path, refcountBlock, refcountBlockAt);
    // The L1 table is zeroes: sizing the file gives them.
    if (::ftruncate(fd, static_cast<off_t>(clusters * kClusterSize)) < 0)
        throw systemError(path);
    if (::fsync(fd) < 0)
        throw systemError(path);
}

}  // namespace mica::block
