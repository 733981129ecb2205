#include "SaveImage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "ConfError.h"
#include "UniqueFd.h"
#include "i18n.h"

namespace mica::domain {

namespace {

// libvirt's REMOTE_STRING_MAX: an XML longer than this could not reach a client anyway.
constexpr std::uint64_t kMaxXml = 4u << 20;
// mica-vmm refuses a state.json or config.json past 64 MiB (vmm/snapshot/SnapshotDir.cpp).
constexpr std::uint64_t kMaxJson = 64u << 20;
// Far beyond any guest this VMM runs; bounds the arithmetic below well clear of overflow.
constexpr std::uint64_t kMaxMemory = std::uint64_t(1) << 48;
constexpr std::uint64_t kPage = 4096;
constexpr std::size_t kCopyChunk = 1 << 20;

std::uint32_t getU32(const std::uint8_t* p)
{
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
}

std::uint64_t getU64(const std::uint8_t* p)
{
    return std::uint64_t(getU32(p)) | std::uint64_t(getU32(p + 4)) << 32;
}

void putU32(std::uint8_t* p, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void putU64(std::uint8_t* p, std::uint64_t v)
{
    putU32(p, static_cast<std::uint32_t>(v));
    putU32(p + 4, static_cast<std::uint32_t>(v >> 32));
}

std::uint64_t memoryOffsetFor(std::uint64_t xml, std::uint64_t config, std::uint64_t state)
{
    std::uint64_t end = kSaveImageHeaderSize + xml + config + state;
    return (end + kPage - 1) / kPage * kPage;
}

std::runtime_error sysError(const std::string& what)
{
    return std::runtime_error(what + ": " + std::strerror(errno));
}

void writeAll(int fd, const void* data, std::size_t length, std::uint64_t offset, const std::string& what)
{
    const auto* p = static_cast<const std::uint8_t*>(data);
    while (length) {
        ssize_t n = ::pwrite(fd, p, length, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw sysError(what);
        p += n, length -= static_cast<std::size_t>(n), offset += static_cast<std::uint64_t>(n);
    }
}

// Reads exactly length bytes at offset; a short file is the image's fault.
void readAll(int fd, void* data, std::size_t length, std::uint64_t offset, const std::string& what)
{
    auto* p = static_cast<std::uint8_t*>(data);
    while (length) {
        ssize_t n = ::pread(fd, p, length, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw sysError(what);
        if (n == 0)
            throw SaveImageError(what + ": " + _("the save image ends early (truncated)"));
        p += n, length -= static_cast<std::size_t>(n), offset += static_cast<std::uint64_t>(n);
    }
}

std::string readSection(int fd, std::uint64_t offset, std::uint64_t length, const std::string& what)
{
    std::string s(length, '\0');
    readAll(fd, s.data(), s.size(), offset, what);
    return s;
}

// Copies [from, from + length) of in to [to, to + length) of out, only the data extents
// of in: guest RAM is mostly holes, and they stay holes (out is sized by the caller).
void copySparse(int in, std::uint64_t from, int out, std::uint64_t to, std::uint64_t length, const std::string& what,
                const std::function<bool(std::uint64_t)>& progress)
{
    std::vector<std::uint8_t> buf(kCopyChunk);
    std::uint64_t at = 0;
    while (at < length) {
        off_t data = ::lseek(in, static_cast<off_t>(from + at), SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                return;   // only holes from here on
            throw sysError(what);
        }
        off_t hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            throw sysError(what);
        std::uint64_t start = static_cast<std::uint64_t>(data) - from;
        std::uint64_t end = std::min<std::uint64_t>(static_cast<std::uint64_t>(hole) - from, length);
        for (std::uint64_t p = start; p < end;) {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - p));
            readAll(in, buf.data(), n, from + p, what);
            writeAll(out, buf.data(), n, to + p, what);
            p += n;
            if (progress && !progress(p))
                throw SaveImageAborted();
        }
        at = std::max(end, at + 1);
    }
}

std::string readWholeFile(const std::string& path, std::uint64_t max)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!fd || ::fstat(fd.get(), &st) < 0)
        throw sysError(path);
    if (static_cast<std::uint64_t>(st.st_size) > max || st.st_size == 0)
        throw std::runtime_error(path + ": " + _("unexpected size for a snapshot file"));
    return readSection(fd.get(), 0, static_cast<std::uint64_t>(st.st_size), path);
}

void syncDirectoryOf(const std::string& path)
{
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd)
        ::fsync(fd.get());
}

}  // namespace

SaveImageHeader parseSaveImageHeader(std::span<const std::uint8_t> bytes, std::uint64_t fileSize)
{
    if (bytes.size() < kSaveImageHeaderSize || fileSize < kSaveImageHeaderSize)
        throw SaveImageError(_("not a mica save image: shorter than its 64-byte header"));
    if (std::memcmp(bytes.data(), kSaveImageMagic, sizeof kSaveImageMagic) != 0)
        throw SaveImageError(_("not a mica save image (wrong magic)"));
    const std::uint8_t* p = bytes.data();
    SaveImageHeader h;
    h.version = getU32(p + 8);
    h.flags = getU32(p + 12);
    h.xmlLength = getU64(p + 16);
    h.configLength = getU64(p + 24);
    h.stateLength = getU64(p + 32);
    h.memoryOffset = getU64(p + 40);
    h.memoryLength = getU64(p + 48);
    if (h.version != kSaveImageVersion)
        throw SaveImageError(conf::subst(_("save image format version %1; this virtmicad reads version %2"),
                                         {std::to_string(h.version), std::to_string(kSaveImageVersion)}));
    if (h.flags & ~kSaveImageWasRunning || getU64(p + 56) != 0)
        throw SaveImageError(_("save image header has unknown flags set"));
    if (h.xmlLength == 0 || h.xmlLength > kMaxXml)
        throw SaveImageError(conf::subst(_("save image domain XML length %1 is out of range"), {std::to_string(h.xmlLength)}));
    if (h.configLength == 0 || h.configLength > kMaxJson || h.stateLength == 0 || h.stateLength > kMaxJson)
        throw SaveImageError(_("save image snapshot section lengths are out of range"));
    if (h.memoryLength == 0 || h.memoryLength > kMaxMemory || h.memoryLength % kPage)
        throw SaveImageError(conf::subst(_("save image memory length %1 is out of range"), {std::to_string(h.memoryLength)}));
    if (h.memoryOffset != memoryOffsetFor(h.xmlLength, h.configLength, h.stateLength))
        throw SaveImageError(_("save image memory offset does not follow its other sections"));
    std::uint64_t end = h.memoryOffset + h.memoryLength;
    if (fileSize < end)
        throw SaveImageError(conf::subst(_("save image is truncated: %1 bytes, its header says %2"),
                                         {std::to_string(fileSize), std::to_string(end)}));
    if (fileSize > end)
        throw SaveImageError(conf::subst(_("save image has %1 bytes past its end"), {std::to_string(fileSize - end)}));
    return h;
}

namespace {

struct OpenImage {
    UniqueFd fd;
    SaveImageHeader header;
};

OpenImage openImage(const std::string& path)
{
    OpenImage img;
    img.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!img.fd || ::fstat(img.fd.get(), &st) < 0)
        throw SaveImageError(path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
        throw SaveImageError(path + ": " + _("not a regular file"));
    std::uint8_t header[kSaveImageHeaderSize] = {};
    std::size_t have = std::min<std::uint64_t>(sizeof header, static_cast<std::uint64_t>(st.st_size));
    readAll(img.fd.get(), header, have, 0, path);
    try {
        img.header = parseSaveImageHeader({header, have}, static_cast<std::uint64_t>(st.st_size));
    } catch (const SaveImageError& e) {
        throw SaveImageError(path + ": " + e.what());
    }
    return img;
}

}  // namespace

SaveImageInfo readSaveImage(const std::string& path)
{
    OpenImage img = openImage(path);
    SaveImageInfo info;
    info.header = img.header;
    info.xml = readSection(img.fd.get(), kSaveImageHeaderSize, img.header.xmlLength, path);
    if (info.xml.find('\0') != std::string::npos)
        throw SaveImageError(path + ": " + _("the save image's domain XML holds a NUL byte"));
    return info;
}

namespace {

// A save image at path from its parts: written under a temporary name beside it, fsynced
// and renamed (see writeSaveImage). The RAM is `memoryLength` bytes of `memory` from
// `memoryFrom` on.
void writeImageFile(const std::string& path, const std::string& xml, const std::string& config,
                    const std::string& state, bool wasRunning, int memory, std::uint64_t memoryFrom,
                    std::uint64_t memoryLength, const std::function<bool(std::uint64_t)>& progress)
{
    if (xml.empty() || xml.size() > kMaxXml)
        throw std::runtime_error(_("the domain XML is too large for a save image"));
    SaveImageHeader h;
    h.version = kSaveImageVersion;
    h.flags = wasRunning ? kSaveImageWasRunning : 0;
    h.xmlLength = xml.size();
    h.configLength = config.size();
    h.stateLength = state.size();
    h.memoryOffset = memoryOffsetFor(h.xmlLength, h.configLength, h.stateLength);
    h.memoryLength = memoryLength;

    std::uint8_t header[kSaveImageHeaderSize] = {};
    std::memcpy(header, kSaveImageMagic, sizeof kSaveImageMagic);
    putU32(header + 8, h.version);
    putU32(header + 12, h.flags);
    putU64(header + 16, h.xmlLength);
    putU64(header + 24, h.configLength);
    putU64(header + 32, h.stateLength);
    putU64(header + 40, h.memoryOffset);
    putU64(header + 48, h.memoryLength);

    // A temporary name beside the target: the rename below is atomic only within one
    // file system, and a crash mid-write leaves a file no one mistakes for an image.
    std::string temporary = path + ".XXXXXX";
    std::vector<char> name(temporary.begin(), temporary.end());
    name.push_back('\0');
    UniqueFd out(::mkostemp(name.data(), O_CLOEXEC));
    if (!out)
        throw sysError(path);
    temporary = name.data();
    try {
        std::uint64_t at = 0;
        writeAll(out.get(), header, sizeof header, at, path), at += sizeof header;
        writeAll(out.get(), xml.data(), xml.size(), at, path), at += xml.size();
        writeAll(out.get(), config.data(), config.size(), at, path), at += config.size();
        writeAll(out.get(), state.data(), state.size(), at, path);
        if (::ftruncate(out.get(), static_cast<off_t>(h.memoryOffset + h.memoryLength)) < 0)
            throw sysError(path);
        copySparse(memory, memoryFrom, out.get(), h.memoryOffset, h.memoryLength, path, progress);
        if (::fsync(out.get()) < 0)
            throw sysError(path);
        if (::rename(temporary.c_str(), path.c_str()) < 0)
            throw sysError(path);
    } catch (...) {
        ::unlink(temporary.c_str());
        throw;
    }
    syncDirectoryOf(path);
}

}  // namespace

void writeSaveImage(const std::string& snapshotDir, const std::string& xml, bool wasRunning, const std::string& path,
                    const std::function<bool(std::uint64_t)>& progress)
{
    std::string config = readWholeFile(snapshotDir + "/config.json", kMaxJson);
    std::string state = readWholeFile(snapshotDir + "/state.json", kMaxJson);
    std::string memoryPath = snapshotDir + "/memory";
    UniqueFd memory(::open(memoryPath.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st{};
    if (!memory || ::fstat(memory.get(), &st) < 0)
        throw sysError(memoryPath);
    auto length = static_cast<std::uint64_t>(st.st_size);
    if (length == 0 || length % kPage || length > kMaxMemory)
        throw std::runtime_error(memoryPath + ": " + _("unexpected size for a snapshot memory file"));
    writeImageFile(path, xml, config, state, wasRunning, memory.get(), 0, length, progress);
}

void redefineSaveImage(const std::string& path, const std::string& xml, bool wasRunning)
{
    OpenImage img = openImage(path);
    const SaveImageHeader& h = img.header;
    std::uint64_t at = kSaveImageHeaderSize + h.xmlLength;
    std::string config = readSection(img.fd.get(), at, h.configLength, path);
    std::string state = readSection(img.fd.get(), at + h.configLength, h.stateLength, path);
    writeImageFile(path, xml, config, state, wasRunning, img.fd.get(), h.memoryOffset, h.memoryLength, {});
}

SaveImageHeader extractSaveImage(const std::string& path, const std::string& dir)
{
    OpenImage img = openImage(path);
    const SaveImageHeader& h = img.header;
    std::uint64_t at = kSaveImageHeaderSize + h.xmlLength;
    auto writeFile = [&](const char* name, const std::string& data) {
        std::string target = dir + "/" + name;
        UniqueFd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd)
            throw sysError(target);
        writeAll(fd.get(), data.data(), data.size(), 0, target);
    };
    writeFile("config.json", readSection(img.fd.get(), at, h.configLength, path));
    at += h.configLength;
    writeFile("state.json", readSection(img.fd.get(), at, h.stateLength, path));
    return h;
}

}  // namespace mica::domain
