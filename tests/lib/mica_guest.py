"""The test guest for Python tests: where tests/guest/build-guest put it, and the kernel
command line every test starts from (tests/guest/cmdline; guest.sh reads the same)."""
import os

_here = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("MICA_BUILD_DIR", os.path.join(_here, "..", "..", "build"))
GUEST = os.environ.get("MICA_GUEST_DIR", os.path.join(BUILD, "guest"))
VMLINUX = os.path.join(GUEST, "vmlinux")  # ELF, for PVH boot
VMLINUZ = os.path.join(GUEST, "vmlinuz")  # bzImage, which QEMU boots too
INITRAMFS = os.path.join(GUEST, "initramfs.cpio.gz")


def cmdline(words):
    """The base command line followed by this test's words (mica.test=..., ...)."""
    with open(os.path.join(_here, "..", "guest", "cmdline")) as f:
        base = " ".join(line.strip() for line in f if line.strip() and not line.startswith("#"))
    return f"{base} {words}"
