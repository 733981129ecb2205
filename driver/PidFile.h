// The daemon's pid file, held under an fcntl write lock for the daemon's lifetime:
// a second virtmicad on the same paths cannot take the lock and refuses to start,
// and a stale file left by a crash does not block a restart (the lock died with it).
#pragma once

#include <string>

#include "UniqueFd.h"

namespace mica::driver {

class PidFile {
public:
    // Throws std::runtime_error naming the path (and the holder's pid if running).
    explicit PidFile(std::string path);
    ~PidFile();
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::string path_;
    UniqueFd fd_;
};

}  // namespace mica::driver
