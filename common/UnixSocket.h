// A unix stream socket listening on a path: what the daemon's own sockets and the ones it
// hands to a VMM (a serial or console backend's) both are.
#pragma once

#include <string>

#include "UniqueFd.h"

namespace mica {

// Removes whatever is at `path`, binds a non-blocking, close-on-exec stream socket there
// and listens with `backlog`. The socket file takes the process's umask. Throws Error
// naming the path.
UniqueFd listenUnixSocket(const std::string& path, int backlog);

}  // namespace mica
