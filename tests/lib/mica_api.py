"""A small client for mica-vmm's REST API over its unix socket, for the tests."""
import http.client
import json
import socket


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def call(socket_path, method, endpoint, body=None):
    """Returns (status, parsed JSON body or None)."""
    conn = UnixHTTPConnection(socket_path)
    headers = {}
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, "/api/v1/" + endpoint, body=data, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, (json.loads(raw) if raw else None)


def raw_exchange(socket_path, payload, timeout=10):
    """Sends raw bytes, half-closes, returns everything the server answered."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(socket_path)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before taking it all: read that answer
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        chunks.append(chunk)
    s.close()
    return b"".join(chunks)


def call_with_fds(socket_path, method, endpoint, body, fds, timeout=60):
    """Like call(), with `fds` sent as SCM_RIGHTS on the request's bytes (as virtmicad
    sends vm.create with a domain's TAP queues)."""
    data = (body if isinstance(body, (bytes, str)) else json.dumps(body)).encode() if body is not None else b""
    head = (f"{method} /api/v1/{endpoint} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(socket_path)
    socket.send_fds(s, [head + data], list(fds))
    chunks = []
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    s.close()
    answer = b"".join(chunks)
    status = int(answer[9:12])
    payload = answer.partition(b"\r\n\r\n")[2]
    return status, (json.loads(payload) if payload else None)
