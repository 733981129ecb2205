# Sourced by the domain tests (kvm suite): a private virtmicad (daemon-lib.sh), the test
# guest (tests/lib/guest.sh), and helpers that drive domains with real virsh.
HOST_ROOT=   # the live host: these tests run where KVM works
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/../lib/guest.sh"
mica_require_guest
HERE=$(cd "$(dirname "$0")" && pwd)

v() { virsh -q -c "$URI" "$@"; }

# domain_xml NAME CMDLINE [DEVICES-XML]: a direct-kernel-boot domain of the test guest
# (its ELF kernel, so it boots through PVH), 2 vCPUs, 256 MiB, a pty serial console.
domain_xml() {
    cat <<XML
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$GUEST_VMLINUX</kernel>
    <initrd>$GUEST_INITRAMFS</initrd>
    <cmdline>$GUEST_CMDLINE $2</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <devices>
    <serial type='pty'/>
    <console type='pty'/>
    ${3:-}
  </devices>
</domain>
XML
}

# expect_console DOMAIN PATTERN [COUNT]: the console shows PATTERN (COUNT times).
expect_console() {
    "$HERE/virsh-console" "$URI" "$1" "$2" "${3:-1}" > "$ROOT/console-$1.log" 2>&1 ||
        { sed 's/^/  console: /' "$ROOT/console-$1.log"; fail "the console of $1 never showed '$2'"; }
    pass "console of $1 shows '$2'"
}

# wait_state DOMAIN STATE: polls `domstate` until it says STATE (the test's timeout bounds it).
wait_state() {
    while [ "$(v domstate "$1" 2>&1)" != "$2" ]; do
        sleep 0.2
    done
    pass "$1 is $2"
}

expect_state() {  # expect_state DOMAIN "STATE (REASON)"
    local got
    got=$(v domstate --reason "$1" 2>&1)
    [ "$got" = "$2" ] || fail "$1 is '$got', expected '$2'"
    pass "$1 is $2"
}

# dominfo_field DOMAIN FIELD: one line of `virsh dominfo`, value only.
dominfo_field() {
    v dominfo "$1" | sed -n "s/^$2: *//p"
}

# keep_line DOMAIN: a whole MICA-KEEP line of the keeper scenario from the console, as
# "N BOOT TOKEN DISK MEM" (MEM: the guest's MemTotal, KiB). The console is read until three
# lines began; the second is whole.
keep_line() {
    "$HERE/virsh-console" "$URI" "$1" "MICA-KEEP n=" 3 > "$ROOT/console-$1.log" 2>&1 ||
        fail "the console of $1 shows no MICA-KEEP lines"
    grep -a -o 'MICA-KEEP n=[0-9]* boot=[0-9a-f-]* token=[0-9a-zA-Z]* disk=[0-9a-z]* mem=[0-9]*' "$ROOT/console-$1.log" |
        sed -n 2p | sed 's/MICA-KEEP n=\([0-9]*\) boot=\(.*\) token=\(.*\) disk=\(.*\) mem=\(.*\)/\1 \2 \3 \4 \5/'
}
