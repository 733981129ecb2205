# Sourced by scripts/check and scripts/quickstart: installs the Debian 12 packages Mica
# needs, only those missing, so a second run costs one dpkg query.

# Build: compiler, Meson, and the libraries of design.md.
MICA_BUILD_PACKAGES=(g++ meson ninja-build pkg-config gettext
    libvirt-dev libxml2-dev libglib2.0-dev libseccomp-dev nlohmann-json3-dev
    libgtest-dev libgmock-dev linux-libc-dev)
# Tests: real libvirt clients (virt-manager runs under Xvfb on a private D-Bus session,
# read through its accessibility tree), schema validation, fuzzing, and the emulated KVM
# host and test guest (QEMU, busybox, cpio; the kernel itself is fetched by `apt-get download`).
MICA_TEST_PACKAGES=(libvirt-clients python3 python3-libvirt libxml2-utils virtinst curl
    virt-manager xvfb x11-utils imagemagick dbus-daemon python3-pyatspi
    clang libclang-rt-14-dev
    qemu-system-x86 busybox-static cpio kmod iproute2
    acpica-tools virtinst python3-jsonschema)

mica_install_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -q || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${missing[@]}" || return 1
}
