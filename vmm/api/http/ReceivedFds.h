// File descriptors a client hands the VMM with a request: SCM_RIGHTS ancillary data on
// the API socket (how virtmicad passes TAP queues it opened, so the VMM never opens
// /dev/net/tun itself). The kernel installs every fd it delivers into this process, so
// each one must end up owned by something that closes it, whatever the request turns
// out to be: they are taken into UniqueFds first and only then checked.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <stdexcept>
#include <vector>

#include "UniqueFd.h"

namespace mica::http {

// At most this many fds travel with one request (16 queue pairs' worth of TAP fds, more
// than any device takes); the receive buffer holds exactly this many, so a client that
// sends more gets MSG_CTRUNC and a 400.
inline constexpr std::size_t kMaxRequestFds = 64;

// Room for kMaxRequestFds fds in one SCM_RIGHTS message, aligned as cmsg needs.
struct ControlBuffer {
    alignas(cmsghdr) char bytes[CMSG_SPACE(sizeof(int) * kMaxRequestFds)];
};

// The request's ancillary data is not what the API takes (the message says what).
class BadControlMessage : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Takes ownership of every fd in msg's SCM_RIGHTS messages, then checks the whole:
// throws BadControlMessage (after closing them) when the control data was truncated
// (more fds than kMaxRequestFds, or the kernel dropped some) or holds a message other
// than SCM_RIGHTS.
std::vector<UniqueFd> takeReceivedFds(const msghdr& msg);

}  // namespace mica::http
