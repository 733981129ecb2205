"""The test guest's serial port as a unix socket (mica-vmm's `--serial socket=`, QEMU's
`-serial unix:`, a domain's `<serial type='unix'>`), for the benchmarks that time how
soon a restored guest answers (tests/bench/snapshot, tests/bench/save), and the figures
they print beside it: the memory the guest wrote and the disk space a file takes."""
import os
import socket
import sys
import time


def _die(message):
    sys.exit(f"{os.path.basename(sys.argv[0])} bench: {message}")


class Console:
    """Connects to the socket, retrying until it appears (its server creates it a moment
    after starting); reads until a marker; sends a line. `proc`, when given, is the
    process serving it: its exit ends the wait at once instead of at the timeout, naming
    `log`, where its output went."""

    def __init__(self, path, proc=None, timeout=600, log=None):
        deadline = time.monotonic() + timeout
        while True:
            if proc is not None and proc.poll() is not None:
                _die(f"{proc.args[0]} exited {proc.returncode}" + (f" (see {log})" if log else ""))
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    _die(f"no console at {path}")
                time.sleep(0.005)
        self.text = b""

    def wait(self, marker, timeout=900):
        """Reads until `marker`; what came before it is in self.last_line."""
        self.sock.settimeout(timeout)
        while marker.encode() not in self.text:
            chunk = self.sock.recv(65536)
            if not chunk:
                _die(f"the console closed before {marker!r}:\n{self.text[-2000:].decode(errors='replace')}")
            self.text += chunk
        self.last_line, self.text = self.text.split(marker.encode(), 1)
        self.last_line = self.last_line.decode(errors="replace").strip()

    def ping(self, word):
        """The bench-snapshot scenario echoes each line back as MICA-PONG."""
        self.sock.sendall(word.encode() + b"\n")
        self.wait(f"MICA-PONG {word}")

    def close(self):
        self.sock.close()


def used_mib(console):
    """Guest RAM the guest has written, as it counts it (the bench-snapshot scenario)."""
    console.sock.sendall(b"used\n")
    console.wait("MICA-PONG used ")
    console.wait("\n")
    return float(console.last_line)


def blocks_mib(path):
    """The disk space a file, or all files below a directory, take: allocated blocks."""
    if os.path.isdir(path):
        return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for d, _, fs in os.walk(path) for f in fs) / 2**20
    return os.stat(path).st_blocks * 512 / 2**20
