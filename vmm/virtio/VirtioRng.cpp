#include "VirtioRng.h"

#include <fcntl.h>
#include <unistd.h>

#include "Error.h"
#include "VirtioSpec.h"

namespace mica::virtio {

VirtioRng::VirtioRng(const std::string& source, UniqueFd opened) : source_(source), fd_(std::move(opened))
{
    if (!fd_)
        fd_.reset(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_)
        throw systemError("rng: " + source);
}

uint16_t VirtioRng::deviceType() const
{
    return kTypeRng;
}

void VirtioRng::readConfig(uint64_t, std::span<uint8_t> data)
{
    for (auto& b : data)
        b = 0;
}

void VirtioRng::processQueue(uint16_t index)
{
    VirtQueue* queue = host_ ? host_->queue(index) : nullptr;
    if (!queue)
        return;
    bool used = false;
    while (auto chain = queue->pop()) {
        uint32_t written = 0;
        for (auto buffer : chain->writable) {
            ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
            if (n == 0 && ::lseek(fd_.get(), 0, SEEK_SET) == 0)  // a regular file starts over
                n = ::read(fd_.get(), buffer.data(), buffer.size());
            if (n <= 0)
                break;
            written += static_cast<uint32_t>(n);
            if (static_cast<size_t>(n) < buffer.size())
                break;
        }
        queue->pushUsed(chain->head, written);
        used = true;
    }
    if (used)
        host_->notifyUsed(index);
}

}  // namespace mica::virtio
