// A qcow2 image (versions 2 and 3), read and written: guest offsets map through the L1
// and L2 tables to host clusters, allocated at the end of the file (or where a freed
// one was) with their refcounts kept exact, so `qemu-img check` finds neither leaks nor
// corruption. Zero clusters, discard, compressed clusters (read; rewritten on write)
// and a backing image for what this one has not allocated.
//
// Metadata is written through as it changes (no dirty cache to lose), in the order
// that leaves a crash at worst a leaked cluster: the cluster's refcount, then its
// data, then the table entry that points at it.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "DiskImage.h"
#include "Qcow2Header.h"
#include "RawImage.h"

namespace mica::block {

class Qcow2Image : public DiskImage {
public:
    using OpenBacking = std::function<std::unique_ptr<DiskImage>(const BackingReference&)>;
    // Throws Error "PATH: qcow2: reason". A backing file the header names is opened
    // through openBacking; one of unstated format is refused.
    Qcow2Image(std::unique_ptr<RawImage> file, const OpenBacking& openBacking);

    // The header's virtual size and backing reference (resolved against `imagePath`'s
    // directory).
    static ImageInfo readInfo(const std::string& imagePath, const ReadAt& read);

    uint64_t size() const override { return header_.size; }
    bool readOnly() const override { return file_->readOnly(); }
    const std::string& path() const override { return file_->path(); }
    void readv(uint64_t offset, const std::vector<iovec>& iov) override;
    void writev(uint64_t offset, const std::vector<iovec>& iov) override;
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

    // One cached metadata cluster (an L2 table or a refcount block), as on disk.
    struct Table {
        uint64_t offset;
        std::vector<uint8_t> bytes;
    };
    // The last few tables used, most recent first.
    class TableCache {
    public:
        explicit TableCache(size_t capacity) : capacity_(capacity) {}
        Table* find(uint64_t offset);
        Table& insert(uint64_t offset, std::vector<uint8_t> bytes);

    private:
        size_t capacity_;
        std::list<Table> tables_;
    };

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
    // guestOffset (none of which hold data) and writes iov's whole clusters there.
    void allocateRun(uint64_t guestOffset, uint64_t clusters, const std::vector<iovec>& iov);
    void zeroRange(uint64_t offset, uint64_t length);
    const std::vector<uint8_t>& decompress(const Mapping& m);

    uint64_t allocateCluster();
    // Drops a reference to each host cluster the mapping holds.
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
    std::vector<uint64_t> l1_;              // as on disk, host-endian
    std::vector<uint64_t> refcountTable_;   // likewise
    TableCache l2Cache_{32}, refcountCache_{8};
    uint64_t end_;                  // the file's end, cluster-aligned: where new clusters go
    std::set<uint64_t> freed_;      // host clusters whose refcount fell to 0 while open
    // The last compressed cluster read, decompressed (sequential reads of a compressed
    // image hit it once per cluster).
    uint64_t decompressedAt_ = ~uint64_t(0);
    std::vector<uint8_t> decompressed_;
};

}  // namespace mica::block
