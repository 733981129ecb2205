// virtio-vsock (virtio spec 5.10) in the hybrid style of Firecracker and Cloud
// Hypervisor: guest AF_VSOCK stream connections to the host (CID 2) port P reach the
// unix socket "PATH_P"; a host program connects to the unix socket PATH, writes
// "CONNECT <port>\n", reads "OK <host port>\n" and then talks to the guest's port.
// Flow control follows the spec's credit scheme (buf_alloc / fwd_cnt).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "EventLoop.h"
#include "UniqueFd.h"
#include "VirtioDevice.h"

namespace mica::virtio {

struct VsockPacketHeader {
    uint64_t srcCid, dstCid;
    uint32_t srcPort, dstPort, len;
    uint16_t type, op;
    uint32_t flags, bufAlloc, fwdCnt;
} __attribute__((packed));
static_assert(sizeof(VsockPacketHeader) == 44);

class VirtioVsock : public VirtioDevice {
public:
    // Listens on `socketPath` now (errors before boot); the guest gets `cid`.
    VirtioVsock(uint64_t cid, const std::string& socketPath, EventLoop* loop);
    ~VirtioVsock() override;

    uint16_t deviceType() const override;
    uint32_t pciClass() const override { return 0xff0000; }
    uint64_t deviceFeatures() const override { return 0; }
    uint16_t queueCount() const override { return 3; }
    void readConfig(uint64_t offset, std::span<uint8_t> data) override;
    void processQueue(uint16_t index) override;
    void reset() override;
    void quiesce() override;
    // Stops accepting and reading host sockets; a handshake under way is dropped (its
    // client sees the connection close).
    void pauseIo() override;
    void resumeIo() override;
    std::string name() const override { return "vsock"; }

private:
    void watchListener();
    enum class State { AwaitingConnect, Connecting, Established };
    struct Connection {
        UniqueFd socket;
        State state = State::Established;
        uint32_t hostPort = 0, guestPort = 0;
        std::string line;            // the host's "CONNECT n" line as it arrives
        bool polling = false;
        bool pausedPolling = false;  // polled when pauseIo() came: polled again at resumeIo()
        uint32_t peerBufAlloc = 0, peerFwdCnt = 0;  // the guest's receive credit
        uint32_t txCnt = 0;          // bytes sent to the guest
        uint32_t fwdCnt = 0;         // bytes from the guest written to the socket
        uint32_t lastReportedFwd = 0;
    };
    using Key = std::pair<uint32_t, uint32_t>;  // host port, guest port

    void acceptHost();
    void hostReadable(Key key);
    void transmit();
    void handleGuestPacket(const VsockPacketHeader& header, ChainReader& payload);
    void sendControl(const Connection& c, uint16_t op, uint32_t flags = 0);
    void sendReset(uint32_t hostPort, uint32_t guestPort);
    void flushRx();
    void poll(Key key, bool on);
    void drop(Key key);
    VsockPacketHeader headerFor(const Connection& c, uint16_t op, uint32_t len = 0) const;

    uint64_t cid_;
    std::string path_;
    EventLoop* loop_;
    UniqueFd listener_;
    std::map<Key, std::unique_ptr<Connection>> connections_;
    std::map<int, std::unique_ptr<Connection>> handshakes_;  // host sockets before CONNECT
    std::deque<VsockPacketHeader> control_;                   // for the guest, waiting for rx buffers
    uint32_t nextHostPort_ = 1u << 30;
};

}  // namespace mica::virtio
