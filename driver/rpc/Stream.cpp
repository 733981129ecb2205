#include "Stream.h"

#include "Xdr.h"

namespace mica::rpc {

void Stream::emit(MessageStatus status, std::span<const std::uint8_t> payload)
{
    Header h = call_;
    h.type = MessageType::Stream;
    h.status = status;
    auto packet = encodePacket(h, payload);
    if (live_)
        sink_(std::move(packet));
    else
        early_.push_back(std::move(packet));
}

void Stream::send(std::span<const std::uint8_t> data)
{
    if (closed_)
        return;
    // Empty data would read as EOF on the client: only endOfData() sends that.
    for (std::size_t at = 0; at < data.size(); at += kChunk)
        emit(MessageStatus::Continue, data.subspan(at, std::min(kChunk, data.size() - at)));
}

void Stream::endOfData()
{
    if (!closed_)
        emit(MessageStatus::Continue, {});
}

void Stream::abort(const RemoteError& error)
{
    if (closed_)
        return;
    XdrEncoder enc;
    encodeRemoteError(enc, error);
    emit(MessageStatus::Error, enc.bytes());
    closed_ = true;
}

void Stream::activate()
{
    live_ = true;
    for (auto& p : early_)
        sink_(std::move(p));
    early_.clear();
}

void Stream::discard()
{
    early_.clear();
    closed_ = true;
    if (handlers_.onAbort)
        handlers_.onAbort();
}

bool Stream::receive(const Header& header, std::span<const std::uint8_t> payload)
{
    if (closed_)
        return false;
    switch (header.status) {
    case MessageStatus::Continue:
        if (handlers_.onData && !payload.empty())
            handlers_.onData(payload);
        return true;
    case MessageStatus::Ok:
        closed_ = true;
        emit(MessageStatus::Ok, {});   // finish acknowledged
        if (handlers_.onFinish)
            handlers_.onFinish();
        return false;
    case MessageStatus::Error:
        closed_ = true;
        emit(MessageStatus::Ok, {});   // abort acknowledged
        if (handlers_.onAbort)
            handlers_.onAbort();
        return false;
    }
    return false;
}

void Stream::disconnected()
{
    if (closed_)
        return;
    closed_ = true;
    if (handlers_.onAbort)
        handlers_.onAbort();
}

StreamTable::~StreamTable()
{
    for (auto& [key, stream] : streams_)
        stream->disconnected();
}

void StreamTable::add(std::int32_t proc, std::uint32_t serial, std::shared_ptr<Stream> stream)
{
    streams_[{proc, serial}] = std::move(stream);
}

std::shared_ptr<Stream> StreamTable::find(std::int32_t proc, std::uint32_t serial) const
{
    auto it = streams_.find({proc, serial});
    return it == streams_.end() ? nullptr : it->second;
}

void StreamTable::remove(std::int32_t proc, std::uint32_t serial)
{
    streams_.erase({proc, serial});
}

}  // namespace mica::rpc
