// The daemon's listening sockets: inherited from systemd (socket activation) or
// bound here with the permissions design.md gives them.
#pragma once

#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::driver {

struct Listener {
    UniqueFd fd;
    bool readOnly = false;
    std::string path;   // set when we bound it, so we remove it on exit
};

// Sockets passed by systemd (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES): the one named
// "virtmicad.socket" serves read-write clients, "virtmicad-ro.socket" read-only ones;
// without names, the first is read-write and the second read-only. Empty when the
// daemon was not socket-activated. Clears the variables so children do not inherit
// them. Throws std::runtime_error on a name it does not know.
std::vector<Listener> inheritedListeners();

// Binds and listens on a unix socket at path with the given mode, replacing a stale
// socket file (call this only while holding the pid file lock).
UniqueFd bindUnixSocket(const std::string& path, unsigned mode);

// Tells systemd (Type=notify) that the daemon is ready; a no-op outside systemd.
void notifyReady();

}  // namespace mica::driver
