#include "Qcow2TableCache.h"

#include <algorithm>

namespace mica::block {

void Qcow2Table::markDirty(size_t from, size_t length)
{
    if (!dirty()) {
        dirtyFrom = from;
        dirtyTo = from + length;
        return;
    }
    dirtyFrom = std::min(dirtyFrom, from);
    dirtyTo = std::max(dirtyTo, from + length);
}

Qcow2Table* Qcow2TableCache::find(uint64_t offset)
{
    for (auto it = tables_.begin(); it != tables_.end(); ++it)
        if (it->offset == offset) {
            tables_.splice(tables_.begin(), tables_, it);
            return &tables_.front();
        }
    return nullptr;
}

Qcow2Table& Qcow2TableCache::insert(uint64_t offset, std::vector<uint8_t> bytes)
{
    if (tables_.size() >= capacity_) {
        // Written before it is dropped: if writing fails it is still here, still dirty.
        if (tables_.back().dirty())
            writeBack_(tables_.back());
        tables_.pop_back();
    }
    tables_.push_front({offset, std::move(bytes)});
    return tables_.front();
}

std::vector<Qcow2Table*> Qcow2TableCache::dirtyTables()
{
    std::vector<Qcow2Table*> dirty;
    for (auto& t : tables_)
        if (t.dirty())
            dirty.push_back(&t);
    std::sort(dirty.begin(), dirty.end(), [](const Qcow2Table* a, const Qcow2Table* b) { return a->offset < b->offset; });
    return dirty;
}

bool Qcow2TableCache::anyDirty() const
{
    return std::any_of(tables_.begin(), tables_.end(), [](const Qcow2Table& t) { return t.dirty(); });
}

}  // namespace mica::block
