// A VMM's cgroup (cgroup v2): created with the controllers its tunables need enabled
// above it, written, and removed once the VMM has ended.
#pragma once

#include <string>

namespace mica::process {

// Creates DIR (and a missing parent) and enables the cpu, memory and io controllers
// for the children of every cgroup from the hierarchy's root down to DIR's parent (those
// the kernel offers; a file of a missing one fails when written). Throws
// std::runtime_error naming the path.
void createCgroup(const std::string& dir);
// Removes an empty cgroup directory; a missing one is fine.
void removeCgroup(const std::string& dir);
// Writes VALUE to DIR/FILE; throws std::runtime_error naming the file and the reason.
void writeCgroupFile(const std::string& dir, const std::string& file, const std::string& value);

}  // namespace mica::process
