"""Shared by tests/bench/domcaps, rpc and save: a private virtmicad under a temporary
--root, and libvirt's own monolithic libvirtd as the peer, both killed and their
directories removed on close(). (LibvirtdSystem, at the end, is the peer that runs guests.)

The peer runs in session mode with private XDG directories, because Debian 12's libvirtd
as root reads /etc/libvirt/qemu.conf and its QEMU driver fails there without the
libvirt-qemu user (design.md). When we are root it runs as `nobody`; our clients connect
to its socket as root, which session mode accepts."""
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("MICA_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
VIRTMICAD = os.path.join(BUILD, "driver", "virtmicad")
LIBVIRTD = "/usr/sbin/libvirtd"
QEMU_DRIVER = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
PEER_PACKAGES = "libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86"


def exit_on_signals():
    """SIGTERM/SIGHUP/SIGINT unwind through finally blocks, so daemons and dirs go too."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def require_peer():
    missing = [p for p in (LIBVIRTD, QEMU_DRIVER, "/usr/bin/qemu-system-x86_64") if not os.path.exists(p)]
    if missing:
        sys.exit(f"libvirt's own daemon is the peer and is missing ({', '.join(missing)}); install it with\n"
                 f"  apt-get install --no-install-recommends {PEER_PACKAGES}")
    if not os.path.exists(VIRTMICAD):
        sys.exit(f"{VIRTMICAD} is missing: meson setup build && meson compile -C build")


def peer_user():
    return "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _wait_for_socket(path, proc, log, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode} before creating {path}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not create {path} in {timeout:.0f} s:\n{log_tail(log)}")
        time.sleep(0.02)


def log_tail(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-3000:]
    except OSError:
        return ""


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Virtmicad:
    name = "virtmicad"

    def __init__(self):
        self.proc = None
        self.root = tempfile.mkdtemp(prefix="mica-bench.")
        try:
            self.sock = os.path.join(self.root, "virtmicad-sock")
            self.uri = "mica+unix:///system?socket=" + self.sock
            self.log = os.path.join(self.root, "daemon.log")
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen([VIRTMICAD, "--root", self.root], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
            _wait_for_socket(self.sock + "-ro", self.proc, self.log, "virtmicad")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def domain_log(self, name):
        """Where the daemon puts a domain's VMM output."""
        return os.path.join(self.root, "log", name + ".log")

    def close(self):
        _stop(self.proc)
        shutil.rmtree(self.root, ignore_errors=True)


class Libvirtd:
    """libvirtd in session mode: qemu:///session and test:///default on a private socket."""
    name = "libvirtd"

    def __init__(self):
        self.proc = None
        self.top = tempfile.mkdtemp(prefix="libvirtd-bench.")
        try:
            user = None
            if os.geteuid() == 0:
                user = pwd.getpwnam("nobody")
                os.chmod(self.top, 0o755)  # let `nobody` reach its own directory below
            home = os.path.join(self.top, "peer")
            dirs = {k: os.path.join(home, v) for k, v in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"),
                                                          ("XDG_RUNTIME_DIR", "run"), ("XDG_CACHE_HOME", "cache"),
                                                          ("XDG_DATA_HOME", "data"))}
            for d in dirs.values():
                os.makedirs(d, mode=0o700)
            os.makedirs(os.path.join(dirs["XDG_CONFIG_HOME"], "libvirt"))
            self.conf = os.path.join(dirs["XDG_CONFIG_HOME"], "libvirt", "libvirtd.conf")
            with open(self.conf, "w") as f:
                # Errors only (debug logging would slow the peer down): it probes a host
                # without dnsmasq or D-Bus and says so. Everything else is libvirtd's default.
                f.write('log_level = 3\nlog_outputs = "3:stderr"\n')
            open(os.path.join(dirs["XDG_CONFIG_HOME"], "libvirt", "qemu.conf"), "w").close()
            if user:
                for dirpath, dirnames, filenames in os.walk(home):
                    for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                        os.chown(n, user.pw_uid, user.pw_gid)
            self.sock = os.path.join(dirs["XDG_RUNTIME_DIR"], "libvirt", "libvirt-sock")
            self.uris = {"qemu": "qemu+unix:///session?socket=" + self.sock,
                         "test": "test+unix:///default?socket=" + self.sock}
            self.uri = self.uris["qemu"]
            self.log = os.path.join(self.top, "libvirtd.log")
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", **dirs}
            ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen([LIBVIRTD, "--config", self.conf], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT, env=env, cwd="/", **ids)
            _wait_for_socket(self.sock, self.proc, self.log, "libvirtd")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def close(self):
        _stop(self.proc)
        shutil.rmtree(self.top, ignore_errors=True)


class LibvirtdSystem:
    """libvirtd as root, qemu:///system, for peers that run guests (tests/bench/save): the
    session daemon above runs as `nobody`, who cannot open a /dev/kvm only root may (as in
    the emulated KVM host). So that it neither reads nor leaves any of the system's libvirt
    state, it runs in its own mount namespace (unshare) with empty tmpfs over /run,
    /var/lib, /var/cache and /var/log, where a privileged libvirtd keeps its state, and its
    own directory bound over /etc/libvirt; its sockets are in that directory, which stays
    visible outside. QEMU runs as root with no security driver, cgroups or namespaces (no
    systemd here to place it, nothing to confine it from) and writes its output to a file,
    not through virtlogd, which is not running."""
    name = "libvirtd"
    HIDDEN = ("/run", "/var/lib", "/var/cache", "/var/log")

    def __init__(self):
        self.proc = None
        self.top = tempfile.mkdtemp(prefix="libvirtd-bench.")
        try:
            if os.geteuid() != 0:
                raise RuntimeError("libvirtd as the qemu:///system peer needs root (a mount namespace)")
            if any(self.top.startswith(h + "/") for h in self.HIDDEN):
                raise RuntimeError(f"{self.top} would be hidden from libvirtd: set TMPDIR elsewhere (/tmp)")
            etc, run = os.path.join(self.top, "etc"), os.path.join(self.top, "sock")
            os.mkdir(etc)
            os.mkdir(run)
            self.conf = os.path.join(etc, "libvirtd.conf")
            with open(self.conf, "w") as f:
                f.write(f'unix_sock_dir = "{run}"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                        # errors only, as for the session daemon above
                        'log_level = 3\nlog_outputs = "3:stderr"\n')
            with open(os.path.join(etc, "qemu.conf"), "w") as f:
                f.write('user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\n'
                        'security_driver = "none"\ncgroup_controllers = [ ]\nnamespaces = [ ]\n'
                        'stdio_handler = "file"\n'
                        # libvirt's default, said here because a compressed image would
                        # measure the compressor
                        'save_image_format = "raw"\n')
            self.sock = os.path.join(run, "libvirt-sock")
            self.uri = "qemu+unix:///system?socket=" + self.sock
            self.log = os.path.join(self.top, "libvirtd.log")
            # The QEMU driver resolves its built-in user and group (Debian's: libvirt-qemu)
            # before it reads qemu.conf, and fails where the package that creates them
            # (libvirt-daemon-system) is not installed: the namespace gets copies of
            # /etc/passwd and /etc/group that have them.
            for name, line in (("passwd", "libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin\n"),
                               ("group", "libvirt-qemu:x:64055:\n")):
                with open(f"/etc/{name}") as f:
                    text = f.read()
                with open(os.path.join(self.top, name), "w") as f:
                    f.write(text if "\nlibvirt-qemu:" in "\n" + text else text + line)
            mounts = "".join(f"mount -t tmpfs libvirtd-bench {h} && " for h in self.HIDDEN)
            mounts += "".join(f'mount --bind "{self.top}/{name}" /etc/{name} && ' for name in ("passwd", "group"))
            script = f'{mounts}mount --bind "$1" /etc/libvirt && exec {LIBVIRTD} --config "$2"'
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                                              "sh", "-c", script, "sh", etc, self.conf],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             env=env, cwd="/")
            _wait_for_socket(self.sock, self.proc, self.log, "libvirtd")
        except BaseException:
            self.close()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def domain_log(self, name):
        """QEMU's output: in the namespace's /var/log, which the daemon's /proc root shows."""
        return f"/proc/{self.proc.pid}/root/var/log/libvirt/qemu/{name}.log"

    def close(self):
        # The namespace's tmpfs go with its last process; QEMU processes the daemon left
        # are the caller's to destroy (through virsh) before this.
        _stop(self.proc)
        shutil.rmtree(self.top, ignore_errors=True)
