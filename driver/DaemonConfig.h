// virtmicad.conf: the daemon's settings file, in libvirt's configuration syntax (as
// virtqemud.conf and qemu.conf): one `name = value` per line, the value a "quoted
// string" or a number, # starts a comment. Every setting is also an option on the
// command line, which wins. A name it does not know, or a line it cannot read, is an
// error naming the file and line: a setting silently ignored would leave a VMM less
// confined than its administrator believes.
#pragma once

#include <map>
#include <set>
#include <string>

namespace mica::driver {

// name -> value of the settings the file sets, each one of `known`. A missing file sets
// none when `mayBeMissing`; throws std::invalid_argument otherwise, and for any error in
// it (a name not in `known` included).
std::map<std::string, std::string> readDaemonConfig(const std::string& path, bool mayBeMissing,
                                                    const std::set<std::string>& known);

}  // namespace mica::driver
