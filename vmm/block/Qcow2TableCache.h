// qcow2 metadata clusters (L2 tables, refcount blocks) kept in memory and written back:
// a change marks the bytes it touched dirty, and they reach the file only when the
// image writes its metadata back (a guest FLUSH, close, a resize...) or when the table
// is evicted. Eviction is the owner's business (`WriteBack`), because what must be on
// disk before a table may be written depends on what the table is: an L2 table's
// clusters need their refcounts written first, a refcount block needs nothing.
//
// Not thread-safe: the image's lock covers it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <vector>

namespace mica::block {

// One cached metadata cluster, as on disk, with the bytes changed since it was written.
struct Qcow2Table {
    uint64_t offset = 0;  // in the image's file
    std::vector<uint8_t> bytes;
    size_t dirtyFrom = 0, dirtyTo = 0;  // [from, to): changed in memory only; empty when equal

    bool dirty() const { return dirtyFrom < dirtyTo; }
    // Widens the dirty range to cover [from, from + length).
    void markDirty(size_t from, size_t length);
    void markClean() { dirtyFrom = dirtyTo = 0; }
};

class Qcow2TableCache {
public:
    // Writes a dirty table about to be evicted (and whatever must precede it), or throws:
    // then the table stays cached, dirty.
    using WriteBack = std::function<void(Qcow2Table&)>;
    Qcow2TableCache(size_t capacity, WriteBack writeBack) : capacity_(capacity), writeBack_(std::move(writeBack)) {}

    // The table at `offset` (now the most recently used), or null.
    Qcow2Table* find(uint64_t offset);
    // Caches a table read or made (the most recently used), clean; when full, the least
    // recently used one goes first, written back if dirty. References to other tables
    // stay valid except the evicted one's.
    Qcow2Table& insert(uint64_t offset, std::vector<uint8_t> bytes);
    // The dirty tables, in file order (metadata written in one ascending sweep).
    std::vector<Qcow2Table*> dirtyTables();
    bool anyDirty() const;

private:
    size_t capacity_;
    WriteBack writeBack_;
    std::list<Qcow2Table> tables_;  // most recently used first
};

}  // namespace mica::block
