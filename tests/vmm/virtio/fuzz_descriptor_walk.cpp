// libFuzzer target: arbitrary bytes as guest memory holding a descriptor table and an
// available ring, walked the way the device does. Anything but a chain or a
// VirtQueueError (a crash, a hang, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "GuestMemory.h"
#include "VirtQueue.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    // 1 MiB of guest RAM; the input lands at 0 (descriptors, rings), the first bytes pick
    // the queue size, the features and the ring placement.
    static mica::GuestMemory memory(1 << 20, 0xc0000000, 0x100000000);
    if (size < 8)
        return 0;
    auto ram = memory.slice(0, 1 << 20);
    std::memset(ram.data(), 0, 0x20000);
    std::memcpy(ram.data(), data + 8, std::min<std::size_t>(size - 8, 0x20000));
    mica::virtio::QueueLayout layout;
    layout.size = static_cast<uint16_t>(1u << (data[0] % 9));
    layout.descTable = uint64_t{data[1]} << 8;
    layout.availRing = uint64_t{data[2]} << 8 | (data[5] & 0xe);
    layout.usedRing = uint64_t{data[3]} << 12 | (data[6] & 0xc);
    bool eventIdx = data[4] & 1, indirect = data[4] & 2;
    try {
        mica::virtio::VirtQueue queue(memory, layout, eventIdx, indirect);
        for (int i = 0; i < 64; ++i) {
            auto chain = queue.pop();
            if (!chain)
                break;
            queue.pushUsed(chain->head, static_cast<uint32_t>(chain->writableBytes()));
            queue.needsInterrupt();
        }
    } catch (const mica::virtio::VirtQueueError&) {
    }
    return 0;
}
