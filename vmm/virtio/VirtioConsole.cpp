#include "VirtioConsole.h"

#include "StateJson.h"

#include <vector>

#include "VirtioSpec.h"

namespace mica::virtio {

namespace {
constexpr uint16_t kReceiveQueue = 0, kTransmitQueue = 1;
// Input beyond this while the guest reads nothing is dropped, as a full UART FIFO would.
constexpr size_t kMaxPending = 64 * 1024;
}  // namespace

uint16_t VirtioConsole::deviceType() const
{
    return kTypeConsole;
}

void VirtioConsole::readConfig(uint64_t offset, std::span<uint8_t> data)
{
    // cols, rows (no VIRTIO_CONSOLE_F_SIZE), max_nr_ports (no MULTIPORT), emerg_wr.
    uint8_t config[12] = {80, 0, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = offset + i < sizeof config ? config[offset + i] : 0;
}

void VirtioConsole::processQueue(uint16_t index)
{
    if (!host_)
        return;
    if (index == kReceiveQueue) {
        deliver();
        return;
    }
    VirtQueue* queue = host_->queue(kTransmitQueue);
    if (!queue)
        return;
    bool used = false;
    while (auto chain = queue->pop()) {
        for (auto buffer : chain->readable)
            if (backend_)
                backend_->write(buffer);
        queue->pushUsed(chain->head, 0);
        used = true;
    }
    if (used)
        host_->notifyUsed(kTransmitQueue);
}

void VirtioConsole::receive(std::span<const uint8_t> bytes)
{
    std::lock_guard lock(mutex());
    for (uint8_t b : bytes)
        if (pending_.size() < kMaxPending)
            pending_.push_back(b);
    try {
        deliver();
    } catch (const VirtQueueError&) {
        // The next kick from the driver finds the same bad chain and reports it.
    }
}

void VirtioConsole::pauseIo()
{
    std::lock_guard lock(mutex());
    paused_ = true;
}

void VirtioConsole::resumeIo()
{
    std::lock_guard lock(mutex());
    paused_ = false;
    try {
        deliver();
    } catch (const VirtQueueError&) {
        // reported at the driver's next kick, as in receive()
    }
}

nlohmann::json VirtioConsole::save()
{
    return {{"pending_input", std::vector<uint8_t>(pending_.begin(), pending_.end())}};
}

void VirtioConsole::restore(const nlohmann::json& state)
{
    auto input = readState<std::vector<uint8_t>>(stateField(state, "pending_input", name()), name());
    if (input.size() > kMaxPending)
        throw StateError(name() + ": more pending input than the console keeps");
    pending_.assign(input.begin(), input.end());
}

void VirtioConsole::deliver()
{
    if (paused_)
        return;
    VirtQueue* queue = host_ ? host_->queue(kReceiveQueue) : nullptr;
    if (!queue || pending_.empty())
        return;
    bool used = false;
    while (!pending_.empty()) {
        auto chain = queue->pop();
        if (!chain)
            break;
        uint32_t written = 0;
        for (auto buffer : chain->writable) {
            size_t n = std::min(buffer.size(), pending_.size());
            std::copy(pending_.begin(), pending_.begin() + static_cast<long>(n), buffer.begin());
            pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
            written += static_cast<uint32_t>(n);
        }
        queue->pushUsed(chain->head, written);
        used = true;
    }
    if (used)
        host_->notifyUsed(kReceiveQueue);
}

void VirtioConsole::reset()
{
    VirtioDevice::reset();
}

}  // namespace mica::virtio
