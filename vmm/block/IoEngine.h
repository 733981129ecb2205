// How a disk's requests run off its I/O thread, and come back to it: the device hands
// an engine a read, write or flush of the image (or any blocking job), and gets each
// completion on its I/O thread, from complete(), whichever engine served it. Two
// engines: ThreadPoolEngine (worker threads call the image: every format) and
// IoUringEngine (the kernel's io_uring reads and writes a raw image's file itself).
// Which one a disk gets is the configuration's `io_engine` (openIoEngine()).
#pragma once

#include <sys/uio.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "DiskImage.h"

namespace mica::block {

enum class IoEngineKind { Auto, IoUring, Threads };

// "auto", "io_uring", "threads": VmConfig's io_engine and the CLI's.
inline const char* ioEngineName(IoEngineKind kind)
{
    switch (kind) {
    case IoEngineKind::Auto: return "auto";
    case IoEngineKind::IoUring: return "io_uring";
    case IoEngineKind::Threads: return "threads";
    }
    return "?";
}

inline std::optional<IoEngineKind> ioEngineFromName(const std::string& name)
{
    for (auto kind : {IoEngineKind::Auto, IoEngineKind::IoUring, IoEngineKind::Threads})
        if (name == ioEngineName(kind))
            return kind;
    return std::nullopt;
}

class IoEngine {
public:
    using Job = std::function<void()>;
    // How a read, write or flush ended: empty, or what failed ("PATH: reason").
    using Done = std::function<void(const std::string& error)>;

    virtual ~IoEngine() = default;
    // IoUring or Threads: the engine serving the data path.
    virtual IoEngineKind kind() const = 0;

    // `work` runs where it may block (a worker), then `completion` waits for complete().
    // Neither may throw.
    virtual void submit(Job work, Job completion) = 0;
    // The image's data path. `iov` must stay valid until `done` has run; reads past
    // the image's file read zeroes, as DiskImage's do.
    virtual void readv(uint64_t offset, std::vector<iovec> iov, Done done) = 0;
    virtual void writev(uint64_t offset, std::vector<iovec> iov, Done done) = 0;
    virtual void flush(Done done) = 0;
    // Hands what was asked since the last kick() to the kernel (one system call for a
    // batch); the caller kicks before it lets another thread at the engine.
    virtual void kick() {}

    // Readable while completions wait; each may call complete().
    virtual std::vector<int> eventFds() const = 0;
    // Runs the completions finished so far; returns how many.
    virtual size_t complete() = 0;
    // Returns once nothing is queued or in flight (completions may still wait).
    virtual void waitIdle() = 0;
    // Waits for what is in flight, finishing nothing more (short transfers are not
    // resumed, queued jobs still run), and forgets every completion: for a reset or a
    // teardown, when the queues they would complete to are gone. Enters no io_uring
    // when everything asked was kicked (a vCPU thread resets devices, and its filter
    // allows no io_uring call).
    virtual void cancel() = 0;
};

// The engine for `image`, with `threads` workers named NAME that run `onStart` first
// (the VMM's seccomp filter). Auto: io_uring for a raw image (`image.direct()` is a
// RawImage) when the kernel gives a ring, else threads. IoUring asked for another
// format, or refused by the kernel: an Error saying why ("io_engine=io_uring: ...").
std::unique_ptr<IoEngine> openIoEngine(IoEngineKind kind, DiskImage& image, const std::string& name, unsigned threads,
                                       std::function<void()> onStart);

// Why this kernel gives this process no io_uring ("io_uring_setup: Operation not
// permitted": disabled by sysctl or a seccomp filter), or empty when it does. Asked once.
const std::string& ioUringRefusal();

}  // namespace mica::block
