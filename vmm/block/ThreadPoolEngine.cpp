#include "ThreadPoolEngine.h"

#include <memory>

namespace mica::block {

ThreadPoolEngine::ThreadPoolEngine(DiskImage& image, const std::string& name, unsigned threads,
                                   std::function<void()> onStart)
    : image_(image), workers_(name, threads, std::move(onStart))
{
}

void ThreadPoolEngine::run(std::function<void()> operation, Done done)
{
    auto error = std::make_shared<std::string>();
    workers_.submit(
        [operation = std::move(operation), error] {
            try {
                operation();
            } catch (const std::exception& e) {
                *error = e.what();
            }
        },
        [done = std::move(done), error] { done(*error); });
}

void ThreadPoolEngine::readv(uint64_t offset, std::vector<iovec> iov, Done done)
{
    run([this, offset, iov = std::move(iov)] { image_.readv(offset, iov); }, std::move(done));
}

void ThreadPoolEngine::writev(uint64_t offset, std::vector<iovec> iov, Done done)
{
    run([this, offset, iov = std::move(iov)] { image_.writev(offset, iov); }, std::move(done));
}

void ThreadPoolEngine::flush(Done done)
{
    run([this] { image_.flush(); }, std::move(done));
}

void ThreadPoolEngine::cancel()
{
    workers_.waitIdle();
    workers_.dropCompletions();
}

}  // namespace mica::block
