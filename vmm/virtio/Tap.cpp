#include "Tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include "Error.h"
#include "i18n.h"

namespace mica::virtio {

namespace {

void prepare(int fd, const std::string& what)
{
    int size = static_cast<int>(kVnetHeaderSize);
    if (::ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
        throw systemError(what + ": TUNSETVNETHDRSZ");
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        throw systemError(what + ": O_NONBLOCK");
}

}  // namespace

std::vector<UniqueFd> openTap(const std::string& name, unsigned queuePairs)
{
    std::string what = "tap '" + name + "'";
    if (name.empty() || name.size() >= IFNAMSIZ)
        throw Error(what + ": " + _("interface names are 1 to 15 characters"));
    std::vector<UniqueFd> fds;
    for (unsigned i = 0; i < queuePairs; ++i) {
        UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
        if (!fd)
            throw systemError(what + ": /dev/net/tun");
        ifreq request{};
        std::strncpy(request.ifr_name, name.c_str(), IFNAMSIZ - 1);
        request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queuePairs > 1 ? IFF_MULTI_QUEUE : 0);
        if (::ioctl(fd.get(), TUNSETIFF, &request) < 0)
            throw systemError(what + ": TUNSETIFF");
        prepare(fd.get(), what);
        fds.push_back(std::move(fd));
    }
    return fds;
}

UniqueFd adoptTap(int fd)
{
    std::string what = "tap fd " + std::to_string(fd);
    ifreq request{};
    if (::ioctl(fd, TUNGETIFF, &request) < 0)
        throw systemError(what + ": " + _("not a TAP device"));
    if (!(request.ifr_flags & IFF_TAP) || !(request.ifr_flags & IFF_VNET_HDR))
        throw Error(what + ": " + _("must be a TAP opened with IFF_VNET_HDR"));
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    prepare(fd, what);
    return UniqueFd(fd);
}

void setTapOffloads(int fd, unsigned flags)
{
    if (::ioctl(fd, TUNSETOFFLOAD, flags) < 0)
        throw systemError("TUNSETOFFLOAD");
}

}  // namespace mica::virtio
