# Shared by the driver's shell tests: start a private virtmicad under a temporary
# --root, wait for its socket by polling, and always kill it and clean up on exit.
# Sourcing scripts use: start_daemon [ARGS...]; $ROOT, $SOCK, $RO_SOCK, $URI, $RO_URI.
# The daemon probes a recorded KVM host ($HOST_ROOT, tests/data/domcaps/emulated-svm), so
# that what a test sees does not depend on the machine it runs on; the kvm suite's tests
# (domain-lib.sh) set HOST_ROOT empty and get the live host.
set -eu -o pipefail
SRC=${MICA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MICA_BUILD_DIR:-$SRC/build}
HOST_ROOT=${HOST_ROOT-$SRC/tests/data/domcaps/emulated-svm}
VIRTMICAD=$BUILD/driver/virtmicad
ROOT=$(mktemp -d /tmp/virtmicad-test.XXXXXX)
SOCK=$ROOT/virtmicad-sock
RO_SOCK=$ROOT/virtmicad-sock-ro
URI="mica+unix:///system?socket=$SOCK"
RO_URI="mica+unix:///system?socket=$RO_SOCK"
DAEMON_PID=
export LIBVIRT_AUTOSTART=0

cleanup() {
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$ROOT"
}
trap cleanup EXIT
# A test timeout (meson or scripts/run-tests) sends SIGTERM: say where it stood, with the
# logs, instead of dying silent.
trap 'fail "timed out (SIGTERM)"' TERM

fail() {
    echo "FAIL: $*"
    [ -f "$ROOT/daemon.log" ] && sed 's/^/  daemon: /' "$ROOT/daemon.log"
    for log in "$ROOT"/log/*.log "$ROOT"/console-*.log; do [ -f "$log" ] && sed "s|^|  $(basename "$log"): |" "$log"; done
    exit 1
}
pass() { echo "PASS: $*"; }

# wait_for CONDITION-COMMAND...: polls up to 10 s.
wait_for() {
    for _ in $(seq 1 200); do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    return 1
}

start_daemon() {
    "$VIRTMICAD" --root "$ROOT" ${HOST_ROOT:+--host-root "$HOST_ROOT"} "$@" >>"$ROOT/daemon.log" 2>&1 &
    DAEMON_PID=$!
    wait_for test -S "$RO_SOCK" || fail "virtmicad did not create its sockets"
}
