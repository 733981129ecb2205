#include "ReceivedFds.h"

#include <cstring>
#include <string>

namespace mica::http {

std::vector<UniqueFd> takeReceivedFds(const msghdr& msg)
{
    std::vector<UniqueFd> fds;
    bool otherType = false;
    int level = 0, type = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < n; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                fds.emplace_back(fd);
            }
        } else if (!otherType) {
            otherType = true;
            level = c->cmsg_level;
            type = c->cmsg_type;
        }
    }
    if (msg.msg_flags & MSG_CTRUNC)
        throw BadControlMessage("the request's file descriptors were cut short: at most " +
                                std::to_string(kMaxRequestFds) + " may come with one request");
    if (otherType)
        throw BadControlMessage("unexpected control message (level " + std::to_string(level) + ", type " +
                                std::to_string(type) + "): only SCM_RIGHTS file descriptors may come with a request");
    if (fds.size() > kMaxRequestFds)
        throw BadControlMessage("at most " + std::to_string(kMaxRequestFds) +
                                " file descriptors may come with one request");
    return fds;
}

}  // namespace mica::http
