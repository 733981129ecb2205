// Test only: MICA_TEST_CRASH_AT=<point> makes the daemon kill itself with SIGKILL when it
// reaches the named point of an operation (a define's write, each step of a start, ...),
// so a test can check that a daemon dying exactly there loses nothing
// (tests/driver/test-domain-crash). Unset, as in any real use, a point costs one
// comparison. Points are named where they are placed; docs/testing.md lists them.
#pragma once

namespace mica::process {

void crashPoint(const char* point);

}  // namespace mica::process
