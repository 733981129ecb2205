#include "IoEngine.h"

#include "Error.h"
#include "IoUringEngine.h"
#include "RawImage.h"
#include "ThreadPoolEngine.h"
#include "i18n.h"

namespace mica::block {

std::unique_ptr<IoEngine> openIoEngine(IoEngineKind kind, DiskImage& image, const std::string& name, unsigned threads,
                                       std::function<void()> onStart)
{
    // io_uring reads and writes the file itself: only a raw image's bytes are the guest's.
    auto* raw = dynamic_cast<RawImage*>(&image.direct());
    if (kind == IoEngineKind::IoUring && !raw)
        throw Error(std::string("io_engine=io_uring: ") + _("io_uring serves raw images only"));
    if (kind == IoEngineKind::IoUring || (kind == IoEngineKind::Auto && raw && ioUringRefusal().empty())) {
        try {
            return std::make_unique<IoUringEngine>(*raw, name, threads, std::move(onStart));
        } catch (const Error& e) {
            if (kind == IoEngineKind::IoUring)
                throw Error(std::string("io_engine=io_uring: ") + e.what());
        }
    }
    return std::make_unique<ThreadPoolEngine>(image, name, threads, std::move(onStart));
}

}  // namespace mica::block
