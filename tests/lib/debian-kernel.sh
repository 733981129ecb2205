# Sourced by tests/kvm-host/ and tests/guest/: fetches Debian's stock amd64 kernel
# package (the one `linux-image-amd64` points at) with `apt-get download` and unpacks it
# once under a cache directory. Both the emulated KVM host and the test guest boot it.
#
#   mica_debian_kernel CACHE_DIR   ->  sets MICA_KERNEL_TREE (unpacked package root),
#                                      MICA_KERNEL_VERSION, MICA_KERNEL_IMAGE

mica_debian_kernel() {
    local cache=$1 pkg version tree
    mkdir -p "$cache" || return 1
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$pkg" ]; then
        # No package lists yet (fresh machine): fetch them once.
        apt-get update -q >&2 || true
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
              awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    if [ -z "$pkg" ]; then
        # Offline: fall back to whatever kernel an earlier run unpacked.
        tree=$(ls -d "$cache"/linux-image-*/ 2>/dev/null | sort -V | tail -n 1)
        [ -n "$tree" ] || { echo "debian-kernel: cannot resolve linux-image-amd64 and no cached kernel in $cache" >&2; return 1; }
        tree=${tree%/}
    else
        tree=$cache/$pkg
    fi
    if [ ! -e "$tree/.unpacked" ]; then
        echo "==> fetching Debian kernel package $pkg" >&2
        local dl
        dl=$(mktemp -d "$cache/dl.XXXXXX") || return 1
        # apt-get download drops privileges to _apt; let it write the directory.
        chmod 0777 "$dl"
        (cd "$dl" && apt-get download -q "$pkg" >&2) || { rm -rf "$dl"; echo "debian-kernel: apt-get download $pkg failed" >&2; return 1; }
        rm -rf "$tree.tmp" && mkdir -p "$tree.tmp" &&
            dpkg-deb -x "$dl"/*.deb "$tree.tmp" || { rm -rf "$dl" "$tree.tmp"; return 1; }
        rm -rf "$dl" "$tree"
        mv "$tree.tmp" "$tree" && touch "$tree/.unpacked"
    fi
    MICA_KERNEL_TREE=$tree
    MICA_KERNEL_VERSION=$(ls "$tree/lib/modules" | head -n 1)
    MICA_KERNEL_IMAGE=$tree/boot/vmlinuz-$MICA_KERNEL_VERSION
    [ -f "$MICA_KERNEL_IMAGE" ] || { echo "debian-kernel: no vmlinuz in $tree" >&2; return 1; }
}

# mica_module_closure TREE MODULE...  -> prints module paths (relative to the modules dir)
# in load order: dependencies first, each once. Uses the `depends` field of each .ko.
mica_module_closure() {
    local tree=$1; shift
    local moddir
    moddir=$tree/lib/modules/$(ls "$tree/lib/modules" | head -n 1)
    declare -A seen=()
    _mica_visit() {
        local name=${1//-/_} path dep
        [ -n "${seen[$name]:-}" ] && return 0
        seen[$name]=1
        path=$(grep -m1 -E "(^|/)${name//_/[-_]}\.ko(\.xz|\.zst)?$" "$moddir/modules.order.all" || true)
        if [ -z "$path" ]; then
            grep -qE "/${name//_/[-_]}\.ko" "$moddir/modules.builtin" 2>/dev/null && return 0
            echo "debian-kernel: module $name not found" >&2; return 1
        fi
        for dep in $(/sbin/modinfo -F depends "$moddir/$path" | tr ',' ' '); do
            _mica_visit "$dep" || return 1
        done
        echo "$path"
    }
    [ -f "$moddir/modules.order.all" ] ||
        (cd "$moddir" && find kernel -name '*.ko*' | sort > modules.order.all)
    local m
    for m in "$@"; do _mica_visit "$m" || return 1; done
}
