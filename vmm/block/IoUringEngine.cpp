#include "IoUringEngine.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "Error.h"
#include "i18n.h"

namespace mica::block {

namespace {

// SQ entries, and operations in the kernel at once: the CQ (twice as many) never
// overflows, so reaping never needs a system call.
constexpr unsigned kRingEntries = 256;

std::string ringRefusal(int err)
{
    return std::string("io_uring_setup: ") + std::strerror(err);
}

}  // namespace

const std::string& ioUringRefusal()
{
    static const std::string why = [] {
        io_uring ring;
        if (int rc = ::io_uring_queue_init(1, &ring, 0); rc < 0)
            return ringRefusal(-rc);
        ::io_uring_queue_exit(&ring);
        return std::string();
    }();
    return why;
}

IoUringEngine::IoUringEngine(RawImage& image, const std::string& name, unsigned threads, std::function<void()> onStart)
    : image_(image), event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), fallback_(image, name, threads, std::move(onStart)),
      slots_(kRingEntries)
{
    if (!event_)
        throw systemError("eventfd");
    if (int rc = ::io_uring_queue_init(kRingEntries, &ring_, 0); rc < 0)
        throw Error(_("the kernel gives no io_uring") + std::string(" (") + ringRefusal(-rc) + ")");
    if (int rc = ::io_uring_register_eventfd(&ring_, event_.get()); rc < 0) {
        ::io_uring_queue_exit(&ring_);
        throw systemError("io_uring_register_eventfd", -rc);
    }
    for (unsigned slot = kRingEntries; slot-- > 0;)
        freeSlots_.push_back(slot);
}

IoUringEngine::~IoUringEngine()
{
    cancel();  // the kernel writes into the buffers of what is in flight
    ::io_uring_queue_exit(&ring_);
}

void IoUringEngine::readv(uint64_t offset, std::vector<iovec> iov, Done done)
{
    if (image_.needsBounce(offset, iov))
        return fallback_.readv(offset, std::move(iov), std::move(done));
    std::lock_guard lock(mutex_);
    start({Type::Read, offset, IoVectors(std::move(iov)), std::move(done)});
}

void IoUringEngine::writev(uint64_t offset, std::vector<iovec> iov, Done done)
{
    if (image_.needsBounce(offset, iov))
        return fallback_.writev(offset, std::move(iov), std::move(done));
    std::lock_guard lock(mutex_);
    start({Type::Write, offset, IoVectors(std::move(iov)), std::move(done)});
}

void IoUringEngine::flush(Done done)
{
    std::lock_guard lock(mutex_);
    start({Type::Flush, 0, IoVectors({}), std::move(done)});
}

void IoUringEngine::start(Operation operation)
{
    if (freeSlots_.empty()) {
        waiting_.push_back(std::move(operation));
        return;
    }
    unsigned slot = freeSlots_.back();
    freeSlots_.pop_back();
    slots_[slot] = std::move(operation);
    prepare(slot);
}

void IoUringEngine::prepare(unsigned slot)
{
    // Never null: each slot has at most one SQE, and there are as many SQEs as slots.
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    Operation& op = *slots_[slot];
    auto count = static_cast<unsigned>(op.rest.count());
    switch (op.type) {
    case Type::Read: ::io_uring_prep_readv(sqe, image_.fd(), op.rest.data(), count, op.offset); break;
    case Type::Write: ::io_uring_prep_writev(sqe, image_.fd(), op.rest.data(), count, op.offset); break;
    case Type::Flush: ::io_uring_prep_fsync(sqe, image_.fd(), IORING_FSYNC_DATASYNC); break;
    }
    ::io_uring_sqe_set_data64(sqe, slot);
}

void IoUringEngine::kick()
{
    std::lock_guard lock(mutex_);
    submitPrepared();
}

void IoUringEngine::submitPrepared()
{
    // EAGAIN or EBUSY (the kernel short of memory): what is left goes at the next kick
    // or completion.
    while (::io_uring_sq_ready(&ring_)) {
        int n = ::io_uring_submit(&ring_);
        if (n <= 0 && n != -EINTR)
            break;
    }
}

bool IoUringEngine::advance(Operation& op, int result, std::string& error)
{
    if (result == -EAGAIN || result == -EINTR)
        return true;
    if (result < 0) {
        error = systemError(op.type == Type::Flush ? image_.path() + ": fdatasync" : image_.path(), -result).what();
        return false;
    }
    if (op.type == Type::Flush)
        return false;
    op.rest.consume(static_cast<size_t>(result));
    if (op.rest.empty())
        return false;
    if (result == 0) {
        if (op.type == Type::Write)
            error = image_.path() + ": " + _("no space written");
        else
            op.rest.zeroRest();  // past the end of the file
        return false;
    }
    op.offset += static_cast<uint64_t>(result);
    return true;  // a short transfer: the rest
}

void IoUringEngine::reap(bool finish)
{
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe)
    {
        ++seen;
        auto slot = static_cast<unsigned>(::io_uring_cqe_get_data64(cqe));
        std::string error;
        if (finish && advance(*slots_[slot], cqe->res, error)) {
            prepare(slot);
            continue;
        }
        if (finish)
            done_.emplace_back(std::move(slots_[slot]->done), std::move(error));
        slots_[slot].reset();
        freeSlots_.push_back(slot);
    }
    ::io_uring_cq_advance(&ring_, seen);
    while (finish && !waiting_.empty() && !freeSlots_.empty()) {
        start(std::move(waiting_.front()));
        waiting_.pop_front();
    }
}

void IoUringEngine::drain(bool finish)
{
    while (true) {
        reap(finish);
        // What reap() resumed, retried or started, and (a system call only then) what
        // waited for a kick(): all in the kernel before waiting for it.
        submitPrepared();
        if (freeSlots_.size() == slots_.size() && (!finish || waiting_.empty()))
            break;
        // The ring signals event_ for each completion; only holders of the mutex read
        // it, after which they reap, so nothing it counted is missed here.
        pollfd ready{event_.get(), POLLIN, 0};
        ::poll(&ready, 1, -1);
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(event_.get(), &count, sizeof count);
    }
    if (!finish) {
        waiting_.clear();
        done_.clear();
    }
}

size_t IoUringEngine::complete()
{
    size_t count = fallback_.complete();
    std::vector<std::pair<Done, std::string>> done;
    {
        std::lock_guard lock(mutex_);
        uint64_t signalled;
        [[maybe_unused]] ssize_t n = ::read(event_.get(), &signalled, sizeof signalled);
        reap(true);
        submitPrepared();
        done.swap(done_);
    }
    for (auto& [callback, error] : done)
        callback(error);
    return count + done.size();
}

void IoUringEngine::waitIdle()
{
    {
        std::lock_guard lock(mutex_);
        drain(true);
    }
    fallback_.waitIdle();
}

void IoUringEngine::cancel()
{
    {
        std::lock_guard lock(mutex_);
        drain(false);
    }
    fallback_.cancel();
}

}  // namespace mica::block
