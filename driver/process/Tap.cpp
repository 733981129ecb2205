#include "Tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "UniqueFd.h"
#include "i18n.h"

namespace mica::process {

namespace {

ifreq request(const std::string& name)
{
    ifreq r{};
    std::strncpy(r.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return r;
}

[[noreturn]] void fail(const std::string& name, const char* what)
{
    throw std::runtime_error("tap '" + name + "': " + what + ": " + std::strerror(errno));
}


// Opens the TAP as the VMM will (same flags), so a persistent one keeps them.
UniqueFd attach(const std::string& name, unsigned queuePairs)
{
    UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd)
        fail(name, "/dev/net/tun");
    ifreq r = request(name);
    r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queuePairs > 1 ? IFF_MULTI_QUEUE : 0);
    if (::ioctl(fd.get(), TUNSETIFF, &r) < 0)
        fail(name, "TUNSETIFF");
    return fd;
}

}  // namespace

bool tapExists(const std::string& name)
{
    return ::if_nametoindex(name.c_str()) != 0;
}

bool createTap(const std::string& name, unsigned queuePairs, const std::string& bridge,
               std::optional<unsigned> mtu)
{
    if (name.empty() || name.size() >= IFNAMSIZ)
        throw std::runtime_error("tap '" + name + "': " + _("interface names are 1 to 15 characters"));
    bool created = !tapExists(name);
    if (created) {
        UniqueFd fd = attach(name, queuePairs);
        if (::ioctl(fd.get(), TUNSETPERSIST, 1) < 0)
            fail(name, "TUNSETPERSIST");
    }
    try {
        UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (!sock)
            fail(name, "socket");
        ifreq r = request(name);
        if (mtu) {
            r.ifr_mtu = static_cast<int>(*mtu);
            if (::ioctl(sock.get(), SIOCSIFMTU, &r) < 0)
                fail(name, "SIOCSIFMTU");
        }
        if (!bridge.empty()) {
            ifreq b = request(bridge);
            b.ifr_ifindex = static_cast<int>(::if_nametoindex(name.c_str()));
            if (::ioctl(sock.get(), SIOCBRADDIF, &b) < 0 && errno != EBUSY)
                throw std::runtime_error("tap '" + name + "': " + _("cannot attach to bridge ") + "'" + bridge +
                                         "': " + std::strerror(errno));
        }
        r = request(name);
        if (::ioctl(sock.get(), SIOCGIFFLAGS, &r) < 0)
            fail(name, "SIOCGIFFLAGS");
        r.ifr_flags |= IFF_UP;
        if (::ioctl(sock.get(), SIOCSIFFLAGS, &r) < 0)
            fail(name, "SIOCSIFFLAGS");
    } catch (...) {
        if (created)
            deleteTap(name);
        throw;
    }
    return created;
}

std::vector<UniqueFd> openTapQueues(const std::string& name, unsigned queuePairs)
{
    std::vector<UniqueFd> fds;
    for (unsigned i = 0; i < std::max(1u, queuePairs); ++i)
        fds.push_back(attach(name, queuePairs));
    return fds;
}

void deleteTap(const std::string& name)
{
    // Attach as it was created (single or multi queue), then drop persistence: the
    // device goes away with this last fd.
    for (unsigned pairs : {1u, 2u}) {
        try {
            UniqueFd fd = attach(name, pairs);
            ::ioctl(fd.get(), TUNSETPERSIST, 0);
            return;
        } catch (const std::exception&) {
        }
    }
}

}  // namespace mica::process
