#include "CrashPoint.h"

#include <signal.h>

#include <cstdlib>
#include <cstring>

namespace mica::process {

void crashPoint(const char* point)
{
    // Read each time rather than cached: a start's points run on worker threads, and a
    // static initializer there would be one more thing to get right for a test hook.
    const char* at = std::getenv("MICA_TEST_CRASH_AT");
    if (at && std::strcmp(at, point) == 0)
        ::raise(SIGKILL);
}

}  // namespace mica::process
