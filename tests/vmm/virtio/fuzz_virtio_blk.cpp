// libFuzzer target: virtio-blk requests from a guest the fuzzer plays. The input is the
// first 4 KiB of guest RAM (descriptor table at 0, available ring at 0x100, used ring at
// 0x200, request headers and buffers wherever the descriptors point, in RAM or past it)
// after 8 bytes that pick the queue size, the ring features and whether the disk is
// read-only. The device serves every chain on the queue against a 64 KiB image. Anything
// but served requests or a VirtQueueError (a crash, a hang, a sanitizer report) is a bug.
// Seeds (blk-corpus/) are well-formed requests of each type, from make-blk-seeds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <unistd.h>

#include "GuestMemory.h"
#include "RawImage.h"
#include "VirtQueue.h"
#include "VirtioBlock.h"

namespace {

using namespace mica;

// The transport's part, reduced to one queue and no interrupts.
class OneQueue : public virtio::QueueHost {
public:
    std::optional<virtio::VirtQueue> queue_;
    virtio::VirtQueue* queue(uint16_t index) override { return index == 0 && queue_ ? &*queue_ : nullptr; }
    void notifyUsed(uint16_t) override { queue_->needsInterrupt(); }
    uint64_t driverFeatures() const override { return ~0ull; }
    void configChanged() override {}
};

// A 64 KiB image in $TMPDIR, unlinked once open: the fuzzer's writes land in it.
std::unique_ptr<virtio::VirtioBlock> makeDisk(bool readOnly)
{
    std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/mica-fuzz-blk.XXXXXX";
    int fd = mkstemp(path.data());
    if (fd < 0 || ftruncate(fd, 64 << 10) != 0)
        std::abort();
    close(fd);
    auto image = std::make_unique<block::RawImage>(path, readOnly, false);
    unlink(path.c_str());
    return std::make_unique<virtio::VirtioBlock>(std::move(image),
                                                 virtio::VirtioBlockOptions{"fuzz", "fuzz-serial", 1, true});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static GuestMemory memory(1 << 20, 0xc0000000, 0x100000000);
    static auto writable = makeDisk(false), readOnly = makeDisk(true);
    if (size < 8)
        return 0;
    auto ram = memory.slice(0, 1 << 20);
    std::memset(ram.data(), 0, 0x1000);
    std::memcpy(ram.data(), data + 8, std::min<std::size_t>(size - 8, 0x1000));
    virtio::VirtioBlock& disk = data[1] & 4 ? *readOnly : *writable;
    OneQueue host;
    try {
        host.queue_.emplace(memory, virtio::QueueLayout{static_cast<uint16_t>(1u << (data[0] % 5)), 0, 0x100, 0x200},
                            data[1] & 1, data[1] & 2);
        disk.activate(host);
        disk.processQueue(0);
    } catch (const virtio::VirtQueueError&) {
    }
    disk.reset();
    return 0;
}
