#include "Qcow2Image.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "BigEndian.h"
#include "BlockSplit.h"
#include "Error.h"
#include "i18n.h"

namespace mica::block {

namespace {

// L1 and L2 entries (qcow2.txt, "Cluster mapping").
constexpr uint64_t kOffsetMask = 0x00fffffffffffe00ull;  // bits 9-55: a host offset
constexpr uint64_t kCopied = uint64_t(1) << 63;           // refcount is exactly 1
constexpr uint64_t kCompressed = uint64_t(1) << 62;
constexpr uint64_t kZero = 1;                              // version 3 L2 entries only
constexpr uint64_t kRefcountTableOffsetMask = ~uint64_t(511);

// Dirty metadata is written in whole pieces of this grid (a page, O_DIRECT's block):
// a few bytes changed still cost a block written, but never a block read back first.
constexpr size_t kWriteGrid = 4096;

// Dropped references waiting for a flush are applied sooner past this many (a guest
// discarding much without flushing would otherwise keep the space from being reused).
constexpr size_t kMaxPendingFrees = 4096;

// Copies bytes from `from` into the buffers iov describes.
void copyInto(const std::vector<iovec>& iov, const uint8_t* from)
{
    for (const auto& v : iov) {
        std::memcpy(v.iov_base, from, v.iov_len);
        from += v.iov_len;
    }
}

[[noreturn]] void corrupt(const std::string& why)
{
    throw Error("qcow2: " + std::string(_("corrupt image: ")) + why);
}

std::optional<BackingReference> backingOf(const Qcow2Header& h, const std::string& imagePath)
{
    if (h.backingFile.empty())
        return std::nullopt;
    // The format must be stated: probing a backing file is how a guest that wrote a
    // header into its raw disk would reach host files.
    if (!h.backingFormat)
        throw Error("qcow2: " + std::string(_("the backing file has no stated format (set one with "
                                              "qemu-img rebase -u -F FORMAT -b FILE): ")) +
                    h.backingFile);
    std::optional<ImageType> type = *h.backingFormat == "vpc" ? ImageType::Vhd : imageTypeFromName(*h.backingFormat);
    if (!type || *h.backingFormat == "vhd")
        throw Error("qcow2: " + std::string(_("this backing format is not supported (raw, qcow2, vpc and vhdx are): ")) +
                    *h.backingFormat);
    std::string path = h.backingFile;
    if (path[0] != '/') {
        auto slash = imagePath.rfind('/');
        path = (slash == std::string::npos ? std::string(".") : imagePath.substr(0, slash)) + "/" + path;
    }
    return BackingReference{path, *type};
}

}  // namespace

ImageInfo Qcow2Image::readInfo(const std::string& imagePath, const ReadAt& read)
{
    Qcow2Header h = parseQcow2Header(read, false);
    return ImageInfo{h.size, backingOf(h, imagePath)};
}

Qcow2Image::Qcow2Image(std::unique_ptr<RawImage> file, const OpenBacking& openBacking) : file_(std::move(file))
{
    try {
        header_ = parseQcow2Header([&](uint64_t at, void* data, size_t n) { file_->read(at, data, n); },
                                   !file_->readOnly());
    } catch (const Error& e) {
        throw Error(file_->path() + ": " + e.what());
    }
    clusterSize_ = header_.clusterSize();
    refcountBits_ = uint64_t(1) << header_.refcountOrder;
    refcountsPerBlock_ = clusterSize_ * 8 / refcountBits_;
    end_ = (file_->size() + clusterSize_ - 1) & ~(clusterSize_ - 1);
    try {
        auto readTable = [&](uint64_t offset, uint64_t entries, std::vector<uint64_t>& out, const char* what) {
            if (offset + entries * 8 > end_)
                corrupt(std::string(what) + _(" lies past the end of the file"));
            std::vector<uint8_t> bytes(entries * 8);
            file_->read(offset, bytes.data(), bytes.size());
            out.resize(entries);
            for (uint64_t i = 0; i < entries; ++i)
                out[i] = loadBe<uint64_t>(&bytes[i * 8]);
        };
        readTable(header_.l1Offset, header_.l1Size, l1_, "the L1 table");
        readTable(header_.refcountTableOffset, uint64_t(header_.refcountTableClusters) * clusterSize_ / 8,
                  refcountTable_, "the refcount table");
        if (!file_->readOnly() && header_.autoclear) {
            // Bitmaps and the like mica does not keep up to date: say they are stale.
            uint8_t zero[8] = {};
            file_->write(Qcow2Header::kAutoclearAt, zero, sizeof zero);
            header_.autoclear = 0;
        }
        backingReference_ = backingOf(header_, file_->path());
        if (backingReference_)
            backing_ = openBacking(*backingReference_);
    } catch (const Error& e) {
        std::string what = e.what();
        throw Error(what.rfind("qcow2: ", 0) == 0 ? file_->path() + ": " + what : what);
    }
}

Qcow2Image::~Qcow2Image()
{
    if (file_->readOnly())
        return;
    try {
        std::lock_guard lock(mutex_);
        writeBack();
        file_->flush();
    } catch (const std::exception& e) {
        std::cerr << "mica-vmm: " << file_->path() << ": " << _("qcow2 metadata not written back: ") << e.what()
                  << std::endl;
    }
}

void Qcow2Image::checkHostOffset(uint64_t offset, const char* what) const
{
    if (offset % clusterSize_ || offset >= end_ || offset == 0)
        corrupt(std::string(what) + _(" at offset ") + std::to_string(offset) + _(" is unaligned or outside the file"));
}

Qcow2Image::Mapping Qcow2Image::decode(uint64_t entry) const
{
    Mapping m;
    if (entry & kCompressed) {
        // Bits 0..x-1: the offset; x..61: sectors after the first (qcow2.txt).
        unsigned x = 62 - (header_.clusterBits - 8);
        m.kind = Mapping::Kind::Compressed;
        m.host = entry & ((uint64_t(1) << x) - 1);
        uint64_t sectors = ((entry & ~kCompressed & ~kCopied) >> x) + 1;
        m.length = sectors * 512 - (m.host & 511);
        if (m.host == 0 || m.host >= end_)
            corrupt(_("a compressed cluster lies outside the file"));
        return m;
    }
    m.host = entry & kOffsetMask;
    m.copied = entry & kCopied;
    if (header_.version >= 3 && (entry & kZero))
        m.kind = Mapping::Kind::Zero;
    else if (m.host)
        m.kind = Mapping::Kind::Data;
    if (m.host)
        checkHostOffset(m.host, "a data cluster");
    return m;
}

Qcow2Image::Table* Qcow2Image::l2Table(uint64_t guestOffset, bool allocate)
{
    uint64_t index = guestOffset / (clusterSize_ * header_.l2Entries());
    uint64_t entry = l1_.at(index);
    uint64_t offset = entry & kOffsetMask;
    if (offset) {
        if (allocate && !(entry & kCopied))
            throw Error(file_->path() + ": qcow2: " + _("an L2 table shared with an internal snapshot cannot be written"));
        if (Table* t = l2Cache_.find(offset))
            return t;
        checkHostOffset(offset, "an L2 table");
        std::vector<uint8_t> bytes(clusterSize_);
        file_->read(offset, bytes.data(), bytes.size());
        return &l2Cache_.insert(offset, std::move(bytes));
    }
    if (!allocate)
        return nullptr;
    // A new table: its refcount, its zeroes and the L1 entry naming it are all dirty,
    // and writeBack() puts them on disk in that order.
    offset = allocateCluster();
    Table& t = l2Cache_.insert(offset, std::vector<uint8_t>(clusterSize_, 0));
    t.markDirty(0, clusterSize_);
    l1_[index] = offset | kCopied;
    if (l1DirtyFrom_ == l1DirtyTo_) {
        l1DirtyFrom_ = index;
        l1DirtyTo_ = index + 1;
    } else {
        l1DirtyFrom_ = std::min<size_t>(l1DirtyFrom_, index);
        l1DirtyTo_ = std::max<size_t>(l1DirtyTo_, index + 1);
    }
    return &t;
}

Qcow2Image::Mapping Qcow2Image::lookup(uint64_t guestOffset)
{
    Table* t = l2Table(guestOffset, false);
    if (!t)
        return {};
    uint64_t index = (guestOffset / clusterSize_) % header_.l2Entries();
    return decode(loadBe<uint64_t>(&t->bytes[index * 8]));
}

void Qcow2Image::setL2Entry(uint64_t guestOffset, uint64_t entry)
{
    Table* t = l2Table(guestOffset, true);
    uint64_t index = (guestOffset / clusterSize_) % header_.l2Entries();
    storeBe<uint64_t>(&t->bytes[index * 8], entry);
    t->markDirty(index * 8, 8);
}

const std::vector<uint8_t>& Qcow2Image::decompress(const Mapping& m)
{
    if (decompressedAt_ == m.host)
        return decompressed_;
    if (m.length > 2 * clusterSize_ + 512)
        corrupt(_("a compressed cluster is larger than two clusters"));
    std::vector<uint8_t> in(m.length);
    file_->read(m.host, in.data(), in.size());
    decompressed_.assign(clusterSize_, 0);
    decompressedAt_ = ~uint64_t(0);
    z_stream zs{};
    // Raw deflate with a 4 KiB window, as QEMU writes it.
    if (inflateInit2(&zs, -12) != Z_OK)
        throw Error("qcow2: " + std::string(_("zlib could not start")));
    zs.next_in = in.data();
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = decompressed_.data();
    zs.avail_out = static_cast<uInt>(clusterSize_);
    int ret = inflate(&zs, Z_FINISH);
    bool whole = zs.avail_out == 0;
    inflateEnd(&zs);
    if (!whole || (ret != Z_STREAM_END && ret != Z_OK && ret != Z_BUF_ERROR))
        corrupt(_("a compressed cluster does not decompress to a whole cluster"));
    decompressedAt_ = m.host;
    return decompressed_;
}

void Qcow2Image::readMapped(const Mapping& m, uint64_t offset, const std::vector<iovec>& iov)
{
    uint64_t within = offset % clusterSize_;
    switch (m.kind) {
    case Mapping::Kind::Unallocated:
        if (backing_ && offset < backing_->size()) {
            // A shorter backing image reads zeroes past its end.
            uint64_t n = std::min(iovLength(iov), backing_->size() - offset);
            backing_->readv(offset, sliceIov(iov, 0, n));
            zeroIov(sliceIov(iov, n, iovLength(iov) - n));
        } else {
            zeroIov(iov);
        }
        return;
    case Mapping::Kind::Zero:
        zeroIov(iov);
        return;
    case Mapping::Kind::Data:
        file_->readv(m.host + within, iov);
        return;
    case Mapping::Kind::Compressed:
        copyInto(iov, decompress(m).data() + within);
        return;
    }
}

std::vector<uint8_t> Qcow2Image::readWholeCluster(uint64_t clusterStart, const Mapping& m)
{
    std::vector<uint8_t> bytes(clusterSize_);
    readMapped(m, clusterStart, {iovec{bytes.data(), bytes.size()}});
    return bytes;
}

void Qcow2Image::readv(uint64_t offset, const std::vector<iovec>& iov)
{
    uint64_t length = iovLength(iov);
    if (offset > header_.size || length > header_.size - offset)
        throw Error(file_->path() + ": " + _("read past the end of the disk"));
    std::unique_lock lock(mutex_);
    waitForAllocations(lock, offset, length);
    // Clusters that follow each other in the file too are read with one call.
    uint64_t runHost = 0, runStart = 0, runLength = 0;
    auto flushRun = [&] {
        if (runLength)
            file_->readv(runHost, sliceIov(iov, runStart, runLength));
        runLength = 0;
    };
    for (uint64_t done = 0; done < length;) {
        uint64_t at = offset + done;
        uint64_t n = std::min(length - done, clusterSize_ - at % clusterSize_);
        Mapping m = lookup(at);
        if (m.kind == Mapping::Kind::Data) {
            uint64_t host = m.host + at % clusterSize_;
            if (runLength && runHost + runLength != host)
                flushRun();
            if (!runLength) {
                runHost = host;
                runStart = done;
            }
            runLength += n;
        } else {
            flushRun();
            readMapped(m, at, sliceIov(iov, done, n));
        }
        done += n;
    }
    flushRun();
}

bool Qcow2Image::allocatedIn(uint64_t offset, uint64_t length)
{
    std::unique_lock lock(mutex_);
    waitForAllocations(lock, offset, length);
    uint64_t end = std::min(header_.size, offset + length);
    for (uint64_t at = offset - offset % clusterSize_; at < end; at += clusterSize_)
        if (lookup(at).kind != Mapping::Kind::Unallocated)
            return true;
    return false;
}

void Qcow2Image::writeCluster(uint64_t offset, const std::vector<iovec>& iov, const Mapping& m)
{
    uint64_t within = offset % clusterSize_, start = offset - within;
    if (m.kind == Mapping::Kind::Data && m.copied) {
        file_->writev(m.host + within, iov);
        return;
    }
    bool whole = within == 0 && iovLength(iov) == clusterSize_;
    // A preallocated zero cluster of our own is written over in place.
    bool reuse = m.kind == Mapping::Kind::Zero && m.host && m.copied;
    std::vector<uint8_t> bytes;
    if (!whole) {
        bytes = m.kind == Mapping::Kind::Zero ? std::vector<uint8_t>(clusterSize_, 0) : readWholeCluster(start, m);
        uint8_t* at = bytes.data() + within;
        for (const auto& v : iov) {
            std::memcpy(at, v.iov_base, v.iov_len);
            at += v.iov_len;
        }
    }
    uint64_t host = reuse ? m.host : allocateCluster();
    if (whole)
        file_->writev(host, iov);
    else
        file_->write(host, bytes.data(), bytes.size());
    setL2Entry(start, host | kCopied);
    if (!reuse)
        release(m);
}

void Qcow2Image::writev(uint64_t offset, const std::vector<iovec>& iov)
{
    if (file_->readOnly())
        throw Error(file_->path() + ": " + _("read-only"));
    uint64_t length = iovLength(iov);
    if (offset > header_.size || length > header_.size - offset)
        throw Error(file_->path() + ": " + _("write past the end of the disk"));
    std::unique_lock lock(mutex_);
    // Whole clusters that hold nothing yet (a guest filling its disk) are allocated
    // together at the end of the file: one data write, and one refcount and one L2
    // entry change per table they fall in. Whatever is done with a cluster is decided
    // on a lookup made since the lock was last let go (allocateRun() lets it go).
    uint64_t runStart = 0, runClusters = 0;
    auto flushRun = [&] {
        if (runClusters)
            allocateRun(lock, offset + runStart, runClusters, sliceIov(iov, runStart, runClusters * clusterSize_));
        runClusters = 0;
    };
    for (uint64_t done = 0; done < length;) {
        uint64_t at = offset + done;
        uint64_t n = std::min(length - done, clusterSize_ - at % clusterSize_);
        if (allocating(at, n)) {
            // Another request writes new clusters there: its L2 entries first.
            if (runClusters)
                flushRun();
            else
                waitForAllocations(lock, at, n);
            continue;  // and look again
        }
        Mapping m = lookup(at);
        if (n == clusterSize_ && (m.kind == Mapping::Kind::Unallocated || (m.kind == Mapping::Kind::Zero && !m.host))) {
            if (!runClusters)
                runStart = done;
            ++runClusters;
        } else if (runClusters) {
            flushRun();
            continue;  // the lock was let go: look again
        } else {
            writeCluster(at, sliceIov(iov, done, n), m);
        }
        done += n;
    }
    flushRun();
    if (pendingFrees_.size() > kMaxPendingFrees)  // compressed clusters rewritten elsewhere
        writeBack();
}

bool Qcow2Image::allocating(uint64_t offset, uint64_t length) const
{
    uint64_t start = offset - offset % clusterSize_, end = offset + length;
    return std::any_of(allocating_.begin(), allocating_.end(),
                       [&](const auto& r) { return r.first < end && start < r.second; });
}

void Qcow2Image::waitForAllocations(std::unique_lock<std::mutex>& lock, uint64_t offset, uint64_t length)
{
    allocationDone_.wait(lock, [&] { return !allocating(offset, length); });
}

void Qcow2Image::allocateRun(std::unique_lock<std::mutex>& lock, uint64_t guestOffset, uint64_t clusters,
                             const std::vector<iovec>& iov)
{
    uint64_t host = end_;
    end_ += clusters * clusterSize_;
    const uint64_t first = host / clusterSize_, width = refcountBits_ / 8;
    for (uint64_t c = first; c < first + clusters;) {
        Table& block = refcountBlock(c / refcountsPerBlock_);
        uint64_t from = (c % refcountsPerBlock_) * width;
        uint64_t n = std::min(first + clusters - c, refcountsPerBlock_ - c % refcountsPerBlock_);
        std::memset(&block.bytes[from], 0, n * width);
        for (uint64_t i = 0; i < n; ++i)
            block.bytes[from + i * width + width - 1] = 1;
        block.markDirty(from, n * width);
        c += n;
    }
    // The data goes to clusters nobody else can reach (new, past every other one) with
    // the lock let go, so other requests go on meanwhile, as under QEMU. Requests that
    // touch these guest clusters wait for it (their L2 entries are not set yet, and a
    // second allocation or a discard now would be lost).
    const std::pair<uint64_t, uint64_t> range{guestOffset, guestOffset + clusters * clusterSize_};
    allocating_.push_back(range);
    struct Done {
        Qcow2Image& image;
        std::pair<uint64_t, uint64_t> range;
        ~Done()
        {
            image.allocating_.erase(std::find(image.allocating_.begin(), image.allocating_.end(), range));
            image.allocationDone_.notify_all();
        }
    } done{*this, range};
    lock.unlock();
    try {
        file_->writev(host, iov);
    } catch (...) {
        lock.lock();  // the clusters leak (counted, unreferenced): harmless
        throw;
    }
    lock.lock();
    const uint64_t l2Entries = header_.l2Entries();
    for (uint64_t i = 0; i < clusters;) {
        uint64_t guest = guestOffset + i * clusterSize_;
        uint64_t index = (guest / clusterSize_) % l2Entries;
        uint64_t n = std::min(clusters - i, l2Entries - index);
        Table* table = l2Table(guest, true);
        for (uint64_t k = 0; k < n; ++k)
            storeBe<uint64_t>(&table->bytes[(index + k) * 8], (host + (i + k) * clusterSize_) | kCopied);
        table->markDirty(index * 8, n * 8);
        i += n;
    }
}

void Qcow2Image::grow(uint64_t newSize)
{
    std::lock_guard lock(mutex_);
    // The header changes on disk now: the tables it describes go first, so the file
    // is whole at every step.
    writeBack();
    uint64_t perL2 = clusterSize_ * (clusterSize_ / 8);
    uint64_t entries = (newSize + perL2 - 1) / perL2;
    uint64_t room = (uint64_t{header_.l1Size} * 8 + clusterSize_ - 1) / clusterSize_ * clusterSize_ / 8;
    if (entries > room)
        throw Error(file_->path() + ": qcow2: " + _("growing to ") + std::to_string(newSize) +
                    _(" bytes needs a larger L1 table than its clusters hold; not supported"));
    // New L1 entries (zeroes: unallocated), then the table's size, then the disk's: a
    // crash in between leaves a valid image of the old size.
    if (entries > l1_.size()) {
        std::vector<uint8_t> zeroes((entries - l1_.size()) * 8, 0);
        file_->write(header_.l1Offset + l1_.size() * 8, zeroes.data(), zeroes.size());
        uint8_t be[4];
        storeBe<uint32_t>(be, static_cast<uint32_t>(entries));
        file_->write(36, be, sizeof be);  // l1_size
        l1_.resize(entries, 0);
        header_.l1Size = static_cast<uint32_t>(entries);
    }
    uint8_t be[8];
    storeBe<uint64_t>(be, newSize);
    file_->write(24, be, sizeof be);  // size
    file_->flush();
    header_.size = newSize;
}

void Qcow2Image::flush()
{
    {
        std::lock_guard lock(mutex_);
        writeBack();
    }
    // Outside the lock: the sync covers every write done before it, the metadata just
    // written included, and requests need not wait for it.
    file_->flush();
}

void Qcow2Image::writeTable(Table& t)
{
    if (!t.dirty())
        return;
    size_t from = t.dirtyFrom / kWriteGrid * kWriteGrid;
    size_t to = std::min(t.bytes.size(), (t.dirtyTo + kWriteGrid - 1) / kWriteGrid * kWriteGrid);
    file_->write(t.offset + from, &t.bytes[from], to - from);
    t.markClean();
}

void Qcow2Image::writeRefcountBlock(Table& t)
{
    if (!t.dirty())
        return;
    writeTable(t);
    refcountsUnsynced_ = true;
}

void Qcow2Image::writeRefcountBlocks()
{
    for (Table* t : refcountCache_.dirtyTables())
        writeRefcountBlock(*t);
}

void Qcow2Image::sync()
{
    file_->flush();
    refcountsUnsynced_ = false;
}

void Qcow2Image::writeL1()
{
    if (l1DirtyFrom_ == l1DirtyTo_)
        return;
    std::vector<uint8_t> bytes((l1DirtyTo_ - l1DirtyFrom_) * 8);
    for (size_t i = l1DirtyFrom_; i < l1DirtyTo_; ++i)
        storeBe<uint64_t>(&bytes[(i - l1DirtyFrom_) * 8], l1_[i]);
    file_->write(header_.l1Offset + l1DirtyFrom_ * 8, bytes.data(), bytes.size());
    l1DirtyFrom_ = l1DirtyTo_ = 0;
}

void Qcow2Image::evictL2(Table& t)
{
    // The counts of the clusters it points at on disk (synced) before its entries.
    writeRefcountBlocks();
    if (refcountsUnsynced_)
        sync();
    writeTable(t);
}

void Qcow2Image::writeBack()
{
    bool l2Dirty = l2Cache_.anyDirty(), l1Dirty = l1DirtyFrom_ != l1DirtyTo_;
    writeRefcountBlocks();
    // Counts before references (blocks an eviction wrote count too).
    if (refcountsUnsynced_ && (l2Dirty || l1Dirty))
        sync();
    for (Table* t : l2Cache_.dirtyTables())
        writeTable(*t);
    if (l1Dirty) {
        // A new L2 table (written just now or by an eviction) before the L1 entry
        // naming it. The L1 table changes once per L2 table made: a sync is cheap there.
        sync();
        writeL1();
    }
    if (!pendingFrees_.empty()) {
        // The tables that dropped these references are written (here or by an
        // eviction): synced, the drops are durable before the decreases.
        sync();
        applyPendingFrees();
        writeRefcountBlocks();
    }
}

void Qcow2Image::applyPendingFrees()
{
    while (!pendingFrees_.empty()) {
        uint64_t c = pendingFrees_.back();
        uint64_t count = refcount(c);
        if (count == 0)
            corrupt(_("a cluster in use has a refcount of 0"));
        setRefcount(c, count - 1);
        pendingFrees_.pop_back();
        if (count == 1) {
            try {
                file_->discard(c * clusterSize_, clusterSize_);  // give the space back; best effort
            } catch (const Error&) {
            }
        }
    }
}

void Qcow2Image::zeroRange(uint64_t offset, uint64_t length)
{
    if (file_->readOnly())
        throw Error(file_->path() + ": " + _("read-only"));
    if (offset > header_.size || length > header_.size - offset)
        throw Error(file_->path() + ": " + _("write past the end of the disk"));
    std::unique_lock lock(mutex_);
    waitForAllocations(lock, offset, length);
    std::vector<uint8_t> zeroes;
    for (uint64_t done = 0; done < length;) {
        uint64_t at = offset + done;
        uint64_t n = std::min(length - done, clusterSize_ - at % clusterSize_);
        done += n;
        Mapping m = lookup(at);
        if (m.kind == Mapping::Kind::Zero || (m.kind == Mapping::Kind::Unallocated && !backing_))
            continue;  // reads as zeroes already
        // A whole cluster: the entry says zero (or unallocated where nothing shows
        // through) and the cluster goes back to the free ones. Version 2 has no zero
        // entries, so over a backing image it writes zeroes.
        bool whole = n == clusterSize_;
        if (whole && (!backing_ || header_.version >= 3)) {
            setL2Entry(at, backing_ ? kZero : 0);
            release(m);
            continue;
        }
        if (zeroes.empty())
            zeroes.assign(clusterSize_, 0);
        writeCluster(at, {iovec{zeroes.data(), n}}, m);
    }
    if (pendingFrees_.size() > kMaxPendingFrees)
        writeBack();
}

void Qcow2Image::discard(uint64_t offset, uint64_t length)
{
    zeroRange(offset, length);
}

void Qcow2Image::writeZeroes(uint64_t offset, uint64_t length)
{
    zeroRange(offset, length);
}

uint64_t Qcow2Image::allocateCluster()
{
    uint64_t host;
    if (!freed_.empty()) {
        host = *freed_.begin();
        freed_.erase(freed_.begin());
    } else {
        host = end_;
        end_ += clusterSize_;
    }
    setRefcount(host / clusterSize_, 1);
    return host;
}

void Qcow2Image::release(const Mapping& m)
{
    uint64_t first = 0, last = 0;
    if (m.kind == Mapping::Kind::Data || (m.kind == Mapping::Kind::Zero && m.host)) {
        first = last = m.host / clusterSize_;
    } else if (m.kind == Mapping::Kind::Compressed) {
        first = m.host / clusterSize_;
        last = (m.host + m.length - 1) / clusterSize_;
        if (decompressedAt_ == m.host)
            decompressedAt_ = ~uint64_t(0);
    } else {
        return;
    }
    // Lowering the count now could let the cluster be counted free (and given to new
    // data) on disk while an L2 table there still points at it.
    for (uint64_t c = first; c <= last; ++c)
        pendingFrees_.push_back(c);
}

Qcow2Image::Table& Qcow2Image::refcountBlock(uint64_t blockIndex)
{
    if (blockIndex >= refcountTable_.size())
        growRefcountTable(blockIndex + 1);
    uint64_t offset = refcountTable_[blockIndex] & kRefcountTableOffsetMask;
    if (!offset) {
        // A new block at the end of the file, written at once (blocks are new once per
        // a few GiB of data). Its own refcount goes in itself when it covers itself,
        // else in the block that does (made the same way); the block and that count are
        // on disk, synced, before the refcount table names the block.
        offset = end_;
        end_ += clusterSize_;
        uint64_t self = offset / clusterSize_, width = refcountBits_ / 8;
        bool coversItself = self / refcountsPerBlock_ == blockIndex;
        std::vector<uint8_t> bytes(clusterSize_, 0);
        if (coversItself)
            bytes[(self % refcountsPerBlock_) * width + width - 1] = 1;
        file_->write(offset, bytes.data(), bytes.size());
        refcountTable_[blockIndex] = offset;
        refcountCache_.insert(offset, std::move(bytes));
        if (!coversItself)
            setRefcount(self, 1);
        writeRefcountBlocks();
        sync();
        uint8_t be[8];
        storeBe<uint64_t>(be, offset);
        file_->write(header_.refcountTableOffset + blockIndex * 8, be, sizeof be);
    }
    if (Table* t = refcountCache_.find(offset))
        return *t;
    checkHostOffset(offset, "a refcount block");
    std::vector<uint8_t> bytes(clusterSize_);
    file_->read(offset, bytes.data(), bytes.size());
    return refcountCache_.insert(offset, std::move(bytes));
}

uint64_t Qcow2Image::refcount(uint64_t hostCluster)
{
    uint64_t blockIndex = hostCluster / refcountsPerBlock_;
    if (blockIndex >= refcountTable_.size() || !(refcountTable_[blockIndex] & kRefcountTableOffsetMask))
        return 0;
    Table& b = refcountBlock(blockIndex);
    uint64_t width = refcountBits_ / 8, at = (hostCluster % refcountsPerBlock_) * width;
    uint64_t v = 0;
    for (uint64_t i = 0; i < width; ++i)
        v = (v << 8) | b.bytes[at + i];
    return v;
}

void Qcow2Image::setRefcount(uint64_t hostCluster, uint64_t value)
{
    Table& b = refcountBlock(hostCluster / refcountsPerBlock_);
    uint64_t width = refcountBits_ / 8, at = (hostCluster % refcountsPerBlock_) * width;
    for (uint64_t i = 0; i < width; ++i)
        b.bytes[at + i] = static_cast<uint8_t>(value >> (8 * (width - 1 - i)));
    b.markDirty(at, width);
    if (value == 0)
        freed_.insert(hostCluster * clusterSize_);
}

void Qcow2Image::growRefcountTable(uint64_t neededEntries)
{
    // The new table goes at the end of the file, followed by the refcount blocks that
    // the table's own clusters (and those blocks) need; then the header points at it
    // and the old table's clusters are freed.
    const uint64_t perTableCluster = clusterSize_ / 8;
    uint64_t entries = std::max<uint64_t>(neededEntries, refcountTable_.size() * 2);
    while (true) {
        entries = (entries + perTableCluster - 1) / perTableCluster * perTableCluster;
        if (entries * 8 > 8 << 20)
            throw Error(file_->path() + ": qcow2: " + _("the refcount table would exceed 8 MiB; the image is too large"));
        std::vector<uint64_t> table = refcountTable_;
        table.resize(entries, 0);
        uint64_t tableStart = end_ / clusterSize_, tableClusters = entries / perTableCluster;
        uint64_t next = tableStart + tableClusters;
        std::vector<uint64_t> newBlocks;  // block indexes, in the order placed from tableStart + tableClusters
        bool fits = true;
        for (uint64_t c = tableStart; c < next && fits; ++c) {
            uint64_t block = c / refcountsPerBlock_;
            if (block >= entries) {
                fits = false;
            } else if (!table[block]) {
                table[block] = next * clusterSize_;
                newBlocks.push_back(block);
                ++next;
            }
        }
        if (!fits) {
            entries *= 2;
            continue;
        }
        // New blocks hold the refcounts of the new clusters they cover.
        for (uint64_t block : newBlocks) {
            std::vector<uint8_t> bytes(clusterSize_, 0);
            uint64_t width = refcountBits_ / 8;
            for (uint64_t c = tableStart; c < next; ++c)
                if (c / refcountsPerBlock_ == block)
                    bytes[(c % refcountsPerBlock_) * width + width - 1] = 1;
            file_->write(table[block], bytes.data(), bytes.size());
        }
        std::vector<uint8_t> bytes(entries * 8);
        for (uint64_t i = 0; i < entries; ++i)
            storeBe<uint64_t>(&bytes[i * 8], table[i]);
        file_->write(tableStart * clusterSize_, bytes.data(), bytes.size());
        // The new clusters that blocks already there cover count before the header
        // names the table: set in their (cached) blocks, and every dirty block written.
        for (uint64_t c = tableStart; c < next; ++c)
            if (std::find(newBlocks.begin(), newBlocks.end(), c / refcountsPerBlock_) == newBlocks.end())
                setRefcount(c, 1);
        writeRefcountBlocks();
        sync();
        uint8_t field[12];
        storeBe<uint64_t>(field, tableStart * clusterSize_);
        storeBe<uint32_t>(field + 8, static_cast<uint32_t>(tableClusters));
        file_->write(Qcow2Header::kRefcountTableAt, field, sizeof field);
        file_->flush();

        uint64_t oldStart = header_.refcountTableOffset / clusterSize_, oldClusters = header_.refcountTableClusters;
        header_.refcountTableOffset = tableStart * clusterSize_;
        header_.refcountTableClusters = static_cast<uint32_t>(tableClusters);
        refcountTable_ = std::move(table);
        end_ = next * clusterSize_;
        // The old table's clusters are free at once: the header no longer names them.
        for (uint64_t c = oldStart; c < oldStart + oldClusters; ++c)
            setRefcount(c, 0);
        return;
    }
}

}  // namespace mica::block
