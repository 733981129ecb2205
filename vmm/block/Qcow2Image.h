// A qcow2 image (versions 2 and 3), read and written: guest offsets map through the L1
// and L2 tables to host clusters, allocated at the end of the file (or where a freed
// one was) with their refcounts kept exact, so `qemu-img check` finds neither leaks nor
// corruption. Zero clusters, discard, compressed clusters (read; rewritten on write)
// and a backing image for what this one has not allocated.
//
// Metadata is written back, not through: L2 tables and refcount blocks change in
// their caches (Qcow2TableCache), the L1 table in memory, and reach the file when the
// guest flushes, when the image closes, grows or is paused for a snapshot, or when a
// dirty table is evicted. Whenever they are written, the order leaves a crash at worst
// leaked clusters, never a cluster with two owners or a reference to a cluster counted
// free (QEMU's order):
//   - an increase first: refcount blocks are written, synced, and only then the L2
//     tables (and, synced again, the L1 entries) that point at the new clusters; a new
//     L2 table is written before the L1 entry that names it;
//   - a decrease last: a dropped reference (discard, a cluster rewritten elsewhere)
//     stays pending until the L2 table without it is on disk and synced; only then is
//     the refcount lowered and the cluster free to be used again.
// So a cached refcount block may be written at any moment; an L2 table only after
// every dirty refcount block.
//
// Several worker threads call it at once. One lock (mutex_) covers the tables, the
// caches and every read and write, except the data of an allocating write: that goes
// to its new clusters with the lock let go, and the L2 entries are set after it, so a
// request over those guest clusters waits for them (allocating_).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "DiskImage.h"
#include "Qcow2Header.h"
#include "Qcow2TableCache.h"
#include "RawImage.h"

namespace mica::block {

class Qcow2Image : public DiskImage {
public:
    using OpenBacking = std::function<std::unique_ptr<DiskImage>(const BackingReference&)>;
    // Throws Error "PATH: qcow2: reason". A backing file the header names is opened
    // through openBacking; one of unstated format is refused.
    Qcow2Image(std::unique_ptr<RawImage> file, const OpenBacking& openBacking);
    // Writes the metadata back and syncs (a failure is reported on stderr: the image
    // then holds at worst leaked clusters, and misses the writes since the last flush).
    ~Qcow2Image() override;

    // The header's virtual size and backing reference (resolved against `imagePath`'s
    // directory).
    static ImageInfo readInfo(const std::string& imagePath, const ReadAt& read);

    uint64_t size() const override { return header_.size; }
    bool readOnly() const override { return file_->readOnly(); }
    const std::string& path() const override { return file_->path(); }
    void shareLock() override { file_->shareLock(); }
    void readv(uint64_t offset, const std::vector<iovec>& iov) override;
    void writev(uint64_t offset, const std::vector<iovec>& iov) override;
    // The guest's FLUSH: every dirty table written, in order, then the file synced.
    void flush() override;
    void discard(uint64_t offset, uint64_t length) override;
    void writeZeroes(uint64_t offset, uint64_t length) override;

    // The next link of the chain and what the header calls it (null, empty without one):
    // how a block job walks the chain below a disk.
    DiskImage* backing() const { return backing_.get(); }
    const std::optional<BackingReference>& backingReference() const { return backingReference_; }
    // Whether this image itself holds (data or zeroes) any cluster of the guest's range,
    // rather than leaving it to its backing file: what a commit copies down.
    bool allocatedIn(uint64_t offset, uint64_t length);

private:
    // Grows the virtual size, and the L1 table within the clusters it occupies (64 KiB
    // clusters: up to 4 TiB); beyond those it is refused (the table would have to move).
    void grow(uint64_t newSize) override;

    using Table = Qcow2Table;

    // Write-back, with mutex_ held. writeBack(): everything dirty, in the crash-safe
    // order (refcounts, sync, L2 tables, sync, L1 entries, sync, then the pending
    // decreases), without the final sync that flush() adds.
    void writeBack();
    void writeTable(Table& t);
    void writeRefcountBlock(Table& t);
    void writeRefcountBlocks();
    // The file synced: a barrier between what must be on disk first and what follows.
    void sync();
    void writeL1();
    // Evicting a dirty L2 table: the refcounts of its clusters go first.
    void evictL2(Table& t);
    // The refcount decreases whose references are gone from the file (synced), applied.
    void applyPendingFrees();

    // Where a guest cluster's data is.
    struct Mapping {
        enum class Kind { Unallocated, Zero, Data, Compressed } kind = Kind::Unallocated;
        uint64_t host = 0;    // Data: the host cluster; Compressed: the first byte
        uint64_t length = 0;  // Compressed: bytes of compressed data
        bool copied = false;  // Data (or a preallocated Zero): refcount 1, writable in place
    };

    Mapping lookup(uint64_t guestOffset);
    Mapping decode(uint64_t entry) const;
    // The L2 table for the guest offset, allocated when `allocate`; nullptr if none.
    Table* l2Table(uint64_t guestOffset, bool allocate);
    void setL2Entry(uint64_t guestOffset, uint64_t entry);

    // Fills [offset, offset + length) of one guest cluster into `iov` from what the
    // mapping says (backing image, zeroes, data or compressed data).
    void readMapped(const Mapping& m, uint64_t offset, const std::vector<iovec>& iov);
    // Writes within one guest cluster (mapped as `m`), allocating it when not writable
    // in place.
    void writeCluster(uint64_t offset, const std::vector<iovec>& iov, const Mapping& m);
    // The whole guest cluster at `clusterStart`, as it reads now.
    std::vector<uint8_t> readWholeCluster(uint64_t clusterStart, const Mapping& m);
    // Allocates `clusters` new host clusters in a row for the guest clusters from
    // guestOffset (none of which hold data) and writes iov's whole clusters there,
    // letting `lock` (on mutex_) go while the data is written.
    void allocateRun(std::unique_lock<std::mutex>& lock, uint64_t guestOffset, uint64_t clusters,
                     const std::vector<iovec>& iov);
    // Whether an allocateRun() writes data for a guest cluster of [offset, offset +
    // length) now; waitForAllocations() waits (lock held on mutex_) until none does.
    bool allocating(uint64_t offset, uint64_t length) const;
    void waitForAllocations(std::unique_lock<std::mutex>& lock, uint64_t offset, uint64_t length);
    void zeroRange(uint64_t offset, uint64_t length);
    const std::vector<uint8_t>& decompress(const Mapping& m);

    uint64_t allocateCluster();
    // Drops a reference to each host cluster the mapping holds: pending until the L2
    // table that no longer holds it is on disk (applyPendingFrees()).
    void release(const Mapping& m);
    uint64_t refcount(uint64_t hostCluster);
    void setRefcount(uint64_t hostCluster, uint64_t value);
    Table& refcountBlock(uint64_t blockIndex);
    void growRefcountTable(uint64_t neededEntries);
    void checkHostOffset(uint64_t offset, const char* what) const;

    std::unique_ptr<RawImage> file_;
    std::unique_ptr<DiskImage> backing_;
    std::optional<BackingReference> backingReference_;
    Qcow2Header header_;
    uint64_t clusterSize_;
    uint64_t refcountBits_, refcountsPerBlock_;
    std::mutex mutex_;
    // Guest ranges [first, second) whose new clusters allocateRun() is writing, without
    // mutex_; allocationDone_ when one ends.
    std::vector<std::pair<uint64_t, uint64_t>> allocating_;
    std::condition_variable allocationDone_;
    std::vector<uint64_t> l1_;              // host-endian; entries [l1DirtyFrom_, l1DirtyTo_) not on disk yet
    size_t l1DirtyFrom_ = 0, l1DirtyTo_ = 0;
    std::vector<uint64_t> refcountTable_;   // as on disk (written through: it changes rarely)
    Qcow2TableCache l2Cache_{32, [this](Table& t) { evictL2(t); }};
    Qcow2TableCache refcountCache_{8, [this](Table& t) { writeRefcountBlock(t); }};
    bool refcountsUnsynced_ = false;  // a refcount block written since the last sync
    uint64_t end_;                  // the file's end, cluster-aligned: where new clusters go
    std::set<uint64_t> freed_;      // host clusters whose refcount fell to 0 while open
    // Host clusters (one entry per reference) whose reference the cached L2 tables
    // dropped: their refcounts are lowered once those tables are on disk.
    std::vector<uint64_t> pendingFrees_;
    // The last compressed cluster read, decompressed (sequential reads of a compressed
    // image hit it once per cluster).
    uint64_t decompressedAt_ = ~uint64_t(0);
    std::vector<uint8_t> decompressed_;
};

}  // namespace mica::block
