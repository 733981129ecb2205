// libFuzzer target: a client's byte stream through framing and into every procedure
// the remote program implements (domain procedures included), as the server runs them. Input: byte 0 selects the
// session state (bit 0: already opened, bit 1: read-only socket), byte 1 the read
// chunk size; the rest is the stream. Any crash, leak, hang or sanitizer report is a bug.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "Dispatcher.h"
#include "DomainManager.h"
#include "DomainStore.h"
#include "Packet.h"
#include "RemoteProgram.h"
#include "RpcError.h"

using namespace mica;

namespace {

std::string scratchDir()
{
    char dir[] = "/tmp/fuzz-rpc.XXXXXX";
    return ::mkdtemp(dir) ? dir : "/tmp";
}

struct Fixture {
    // Real domain procedures over a scratch store: definitions are written there; a
    // start finds no VMM to run and fails.
    rpc::EventLoop loop;
    domain::DomainStore store{[] {
        std::string dir = scratchDir();
        return domain::StorePaths{dir + "/etc", dir + "/run", dir + "/log", dir + "/save"};
    }()};
    domain::DomainManager domains{loop, store, "/nonexistent/mica-vmm", {}};
    driver::HostInfo host{"/nonexistent/proc", "/nonexistent/sys"};   // fast, deterministic
    driver::RemoteProgramContext ctx{driver::DaemonMode::System, domains, host, {}};
    rpc::Dispatcher dispatcher;
    Fixture()
    {
        // Hooks present, so the capabilities procedures' decoders run to the end.
        ctx.caps.hostXml = [] { return std::string("<capabilities/>"); };
        ctx.caps.domainXml = [](const driver::DomainCapsQuery& q) {
            if (q.flags & 1)
                throw rpc::RpcError(VIR_ERR_INVALID_ARG, VIR_FROM_NONE, "flags");
            return std::string("<domainCapabilities/>");
        };
        driver::registerRemoteProgram(dispatcher, ctx);
        driver::registerDomainOperations(dispatcher, domains);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static Fixture fx;
    if (size < 2)
        return 0;
    rpc::Session session;
    session.open = data[0] & 1;
    session.readOnlySocket = data[0] & 2;
    std::size_t chunk = data[1] % 64 + 1;
    std::span<const std::uint8_t> stream(data + 2, size - 2);
    // A small message limit keeps the fuzzer in interesting territory.
    rpc::PacketReader reader(1u << 16);
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
        if (!reader.append(stream.subspan(at, std::min(chunk, stream.size() - at))))
            break;
        while (auto pkt = reader.next()) {
            if (pkt->header.type == rpc::MessageType::Call) {
                auto body = fx.dispatcher.call(session, pkt->header, pkt->payload);
                auto reply = rpc::Dispatcher::replyPacket(pkt->header, body);
                if (reply.size() < 28)
                    __builtin_trap();
            }
        }
        if (reader.invalid())
            break;
    }
    return 0;
}
