# Sourced by test scripts that boot the test guest: locates it and reads its markers.
#   MICA_GUEST_DIR   where tests/guest/build-guest put vmlinuz, vmlinux, initramfs.cpio.gz
#                    (default: $MICA_BUILD_DIR/guest; scripts/check builds it first)

MICA_BUILD_DIR=${MICA_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
MICA_GUEST_DIR=${MICA_GUEST_DIR:-$MICA_BUILD_DIR/guest}
GUEST_KERNEL=$MICA_GUEST_DIR/vmlinuz
GUEST_VMLINUX=$MICA_GUEST_DIR/vmlinux
GUEST_INITRAMFS=$MICA_GUEST_DIR/initramfs.cpio.gz
# The kernel command line every test starts from (tests/guest/cmdline).
GUEST_CMDLINE=$(grep -v '^#' "$(dirname "${BASH_SOURCE[0]}")/../guest/cmdline")

mica_require_guest() {
    local f
    for f in "$GUEST_KERNEL" "$GUEST_VMLINUX" "$GUEST_INITRAMFS"; do
        [ -s "$f" ] || { echo "FAIL: $f is missing: run tests/guest/build-guest $MICA_GUEST_DIR" >&2; exit 1; }
    done
}

# mica_expect_marker LOG NAME RESULT: the guest printed "MICA-TEST: NAME RESULT" in LOG.
mica_expect_marker() {
    if grep -q "MICA-TEST: $2 $3" "$1"; then
        echo "ok: MICA-TEST: $2 $3"
    else
        echo "FAIL: no 'MICA-TEST: $2 $3' in the guest console; it printed:" >&2
        tail -n 30 "$1" >&2
        exit 1
    fi
}

# mica_wait_marker LOG PATTERN PID [COUNT]: waits until LOG holds COUNT (default 1) lines
# matching "MICA-TEST: PATTERN", or fails when process PID ends first. No clock: the
# VM test's own meson timeout bounds it.
mica_wait_marker() {
    local count=${4:-1}
    while [ "$(grep -c "MICA-TEST: $2" "$1" 2>/dev/null)" -lt "$count" ]; do
        if ! kill -0 "$3" 2>/dev/null; then
            echo "FAIL: the VMM ended before printing 'MICA-TEST: $2' ($count times); console:" >&2
            tail -n 30 "$1" >&2
            exit 1
        fi
        sleep 0.2
    done
}

# mica_report_on_term LOG: on a test timeout (SIGTERM to the test's process group, from
# meson or scripts/run-tests) the test fails saying what the guest printed last, instead
# of dying silent.
mica_report_on_term() {
    # shellcheck disable=SC2064  # LOG is fixed now
    trap "echo 'FAIL: timed out (SIGTERM); the console ends with:' >&2; tail -n 40 '$1' >&2; exit 1" TERM
}
