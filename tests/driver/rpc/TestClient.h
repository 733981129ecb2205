// Helpers shared by the driver's RPC tests: build CALL packets, run a call through a
// Dispatcher, read replies back.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "Dispatcher.h"
#include "Packet.h"
#include "Protocol.h"
#include "RemoteTypes.h"
#include "Xdr.h"

namespace mica::rpc::test {

inline std::vector<std::uint8_t> hex(std::string_view h)
{
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

inline Header callHeader(std::int32_t proc, std::uint32_t serial = 1)
{
    return {kRemoteProgram, kRemoteVersion, proc, MessageType::Call, serial, MessageStatus::Ok};
}

// Runs one call; returns the reply body.
inline ReplyBody call(const Dispatcher& d, Session& s, std::int32_t proc,
                      const std::vector<std::uint8_t>& args = {})
{
    Header h = callHeader(proc);
    return d.call(s, h, args);
}

inline RemoteError errorOf(const ReplyBody& body)
{
    EXPECT_EQ(body.status, MessageStatus::Error);
    XdrDecoder dec(body.payload);
    return decodeRemoteError(dec);
}

}  // namespace mica::rpc::test
