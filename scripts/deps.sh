# Sourced by scripts/check and scripts/quickstart: installs the Debian 12 packages Mica
# needs, only those missing, so a second run costs one dpkg query.

# Build: compiler, Meson, and the libraries of design.md.
MICA_BUILD_PACKAGES=(g++ meson ninja-build pkg-config gettext
    libvirt-dev libxml2-dev libglib2.0-dev libseccomp-dev nlohmann-json3-dev
    libgtest-dev libgmock-dev linux-libc-dev zlib1g-dev liburing-dev)
# Tests: real libvirt clients (virt-manager runs under Xvfb on a private D-Bus session,
# read through its accessibility tree), schema validation, fuzzing, and the emulated KVM
# host and test guest (QEMU, busybox, cpio; the kernel itself is fetched by `apt-get download`).
# QEMU comes from bookworm-backports (mica_install_backports).
MICA_TEST_PACKAGES=(libvirt-clients python3 python3-libvirt libxml2-utils virtinst curl
    virt-manager xvfb x11-utils imagemagick dbus-daemon python3-pyatspi
    clang libclang-rt-14-dev
    busybox-static cpio kmod iproute2 pciutils
    acpica-tools virtinst python3-jsonschema)

mica_install_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    mica_apt_install "${missing[@]}"
}

# apt-get update, then apt-get install ARGS (packages, -t RELEASE) without recommends.
MICA_SUDO=""
[ "$(id -u)" -eq 0 ] || MICA_SUDO=sudo
mica_apt_install() {
    $MICA_SUDO apt-get update -q || return 1
    DEBIAN_FRONTEND=noninteractive $MICA_SUDO apt-get install -y -q --no-install-recommends "$@"
}

# The emulated KVM host is QEMU's TCG emulating AMD SVM. It gets nested paging wrong now
# and then, bookworm's QEMU 7.2 and backports' QEMU 10 alike (docs/testing.md); QEMU 10
# ran the kvm suite about twice as fast.
# qemu-utils (qemu-img) makes and checks the images the disk tests write, from the same
# QEMU as the emulated host.
MICA_BACKPORTS_PACKAGES=(qemu-system-x86 qemu-utils)

mica_install_backports() {
    local list=/etc/apt/sources.list.d/mica-bookworm-backports.list pkg missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Version}\n' "$pkg" 2>/dev/null | grep -q 'bpo12' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing from bookworm-backports: ${missing[*]}"
    if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d; then
        echo 'deb http://deb.debian.org/debian bookworm-backports main' | $MICA_SUDO tee "$list" >/dev/null || return 1
    fi
    mica_apt_install -t bookworm-backports "${missing[@]}"
}
