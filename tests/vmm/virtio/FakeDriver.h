// A minimal virtio driver for unit tests: lays out a split virtqueue in a GuestMemory
// and adds descriptor chains the way a guest would (or the way a malicious one would).
#pragma once

#include <cstring>
#include <vector>

#include "GuestMemory.h"
#include "VirtQueue.h"
#include "VirtioSpec.h"

namespace mica::virtio::test {

struct FakeQueue {
    static constexpr uint64_t kDesc = 0x10000, kAvail = 0x11000, kUsed = 0x12000;
    const GuestMemory& memory;
    uint16_t size;
    uint64_t descAddr, availAddr, usedAddr;
    uint16_t availIdx = 0;

    // `base` moves the rings (default kDesc), for devices with several queues.
    FakeQueue(const GuestMemory& m, uint16_t n, uint64_t base = kDesc)
        : memory(m), size(n), descAddr(base), availAddr(base + 0x1000), usedAddr(base + 0x2000)
    {
        clear();
    }
    // What a driver does to a queue it sets up again: fresh, zeroed rings.
    void clear()
    {
        std::vector<uint8_t> zero(0x3000, 0);
        memory.write(descAddr, zero);
        availIdx = 0;
    }
    QueueLayout layout() const { return {size, descAddr, availAddr, usedAddr}; }

    void setDescriptor(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next, uint64_t table = 0)
    {
        if (!table)
            table = descAddr;
        uint8_t raw[16];
        std::memcpy(raw, &addr, 8);
        std::memcpy(raw + 8, &len, 4);
        std::memcpy(raw + 12, &flags, 2);
        std::memcpy(raw + 14, &next, 2);
        memory.write(table + 16ull * index, raw);
    }
    // Makes `head` available and publishes the new avail index.
    void offer(uint16_t head)
    {
        put16(availAddr + 4 + 2ull * (availIdx % size), head);
        ++availIdx;
        put16(availAddr + 2, availIdx);
    }
    void put16(uint64_t gpa, uint16_t v) { memory.write(gpa, {reinterpret_cast<uint8_t*>(&v), 2}); }
    uint16_t get16(uint64_t gpa) const
    {
        uint16_t v;
        std::memcpy(&v, memory.slice(gpa, 2).data(), 2);
        return v;
    }
    uint32_t get32(uint64_t gpa) const
    {
        uint32_t v;
        std::memcpy(&v, memory.slice(gpa, 4).data(), 4);
        return v;
    }
    uint16_t usedIdx() const { return get16(usedAddr + 2); }
    uint32_t usedId(uint16_t i) const { return get32(usedAddr + 4 + 8ull * (i % size)); }
    uint32_t usedLen(uint16_t i) const { return get32(usedAddr + 8 + 8ull * (i % size)); }
};

}  // namespace mica::virtio::test
