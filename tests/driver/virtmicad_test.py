"""Shared by the driver's python tests: a private virtmicad under a temporary --root,
started and polled for, always killed at the end."""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

SRC = os.environ.get("MICA_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
BUILD = os.environ.get("MICA_BUILD_DIR") or os.path.join(SRC, "build")
# The recorded KVM host the daemon probes unless a test asks for the live one (None), so
# that what a test sees does not depend on the machine it runs on (see daemon-lib.sh).
RECORDED_HOST = os.path.join(SRC, "tests", "data", "domcaps", "emulated-svm")
VIRTMICAD = os.path.join(BUILD, "driver", "virtmicad")

REMOTE_PROG = 0x20008086
KEEPALIVE_PROG = 0x6B656570


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Daemon:
    """root: reuse this directory (a restarted daemon) and leave it in place at close."""

    def __init__(self, *args, root=None, host_root=RECORDED_HOST):
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="virtmicad-py.")
        self.sock = os.path.join(self.root, "virtmicad-sock")
        self.ro_sock = self.sock + "-ro"
        self.uri = "mica+unix:///system?socket=" + self.sock
        self.ro_uri = "mica+unix:///system?socket=" + self.ro_sock
        self.log = open(os.path.join(self.root, "daemon.log"), "a+")
        host = ["--host-root", host_root] if host_root else []
        self.proc = subprocess.Popen([VIRTMICAD, "--root", self.root, *host, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.ro_sock) or self.proc.poll() is not None,
                 what="virtmicad sockets")
        assert self.proc.poll() is None, "virtmicad exited: " + self.log_text()

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def packet(prog, proc, mtype=0, serial=0, status=0, payload=b"", vers=1):
    body = struct.pack(">IIiiIi", prog, vers, proc, mtype, serial, status) + payload
    return struct.pack(">I", len(body) + 4) + body


class RawClient:
    """A hand-made protocol peer for what libvirt's client would never send."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Connect blocking: a unix socket with a full backlog makes a non-blocking
        # connect fail with EAGAIN instead of waiting for the daemon to accept.
        self.s.connect(path)
        self.s.settimeout(10)

    def send(self, data):
        self.s.sendall(data)

    def recv_packet(self):
        """(header tuple, payload) or None at EOF."""
        head = self._exact(4)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head)
        rest = self._exact(length - 4)
        if rest is None:
            return None
        return struct.unpack(">IIiiIi", rest[:24]), rest[24:]

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def call(self, proc, payload=b"", serial=1, prog=REMOTE_PROG, vers=1):
        self.send(packet(prog, proc, 0, serial, 0, payload, vers))
        while True:
            p = self.recv_packet()
            assert p is not None, "connection closed while waiting for a reply"
            if p[0][3] == 1:
                return p

    def closed(self):
        """True once the daemon hung up on us (EOF or reset)."""
        try:
            return self.s.recv(65536) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def decode_error(payload):
    code, domain, has_msg = struct.unpack(">iiI", payload[:12])
    msg = ""
    if has_msg:
        (n,) = struct.unpack(">I", payload[12:16])
        msg = payload[16:16 + n].decode()
    return code, domain, msg


def xdr_string(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)
