"""Helpers for the tests in tests/ecs: free ports, child processes that are always stopped, a
bounded wait for a log line, and a minimal NATS client (the nats CLI is not installed; Debian's
python3 has no NATS library, and the protocol is a few text lines).

Standard library only. Every wait is bounded and driven by I/O (a log line, a socket read), not by
sleeping.
"""
import json
import os
import queue
import selectors
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_ports(n):
    """n distinct free loopback TCP ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Process:
    """A child process whose combined output is read line by line on a thread."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self.lines = []
        self._q = queue.Queue()
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd, text=True,
                                     errors="replace")
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, predicate, timeout):
        """Returns the first new line for which predicate(line) is true; raises on exit/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no matching line in {timeout} s; output:\n" + self.tail())
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.proc.wait()}); output:\n" + self.tail())
            self.lines.append(line)
            if predicate(line):
                return line

    def tail(self, n=40):
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "\n".join(self.lines[-n:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class NatsClient:
    """Just enough of the NATS client protocol: CONNECT, PUB/HPUB, SUB, request/reply."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.sid = 0
        info = self._line()
        if not info.startswith(b"INFO "):
            raise RuntimeError(f"not a NATS server: {info!r}")
        self.info = json.loads(info[5:])
        connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                   "lang": "python-stdlib-test", "version": "0"}
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        self._until_pong()

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("NATS server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _until_pong(self):
        while True:
            line = self._line()
            if line == b"PONG":
                return
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())

    def request(self, subject, payload=b"", headers=None, timeout=5.0):
        """Returns (headers dict, status line, payload bytes) of the first reply."""
        self.sid += 1
        inbox = f"_INBOX.test.{self.sid}"
        self.sock.settimeout(timeout)
        out = f"SUB {inbox} {self.sid}\r\nUNSUB {self.sid} 1\r\n".encode()
        if headers:
            hdr = "NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            hdr = hdr.encode()
            out += f"HPUB {subject} {inbox} {len(hdr)} {len(hdr) + len(payload)}\r\n".encode()
            out += hdr + payload + b"\r\n"
        else:
            out += f"PUB {subject} {inbox} {len(payload)}\r\n".encode() + payload + b"\r\n"
        self.sock.sendall(out)
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
            parts = line.split()
            if parts[0] == b"MSG":
                return {}, "", self._bytes(int(parts[-1]))
            if parts[0] == b"HMSG":
                hlen, total = int(parts[-2]), int(parts[-1])
                raw = self._bytes(total)
                head, body = raw[:hlen].decode(), raw[hlen:]
                lines = head.split("\r\n")
                hdrs = {}
                for h in lines[1:]:
                    if ":" in h:
                        k, v = h.split(":", 1)
                        hdrs[k.strip()] = v.strip()
                return hdrs, lines[0], body

    def jetstream(self, api, body):
        """A JetStream API call ($JS.API.<api>); returns the decoded reply, raising on an error."""
        _, status, payload = self.request(f"$JS.API.{api}", json.dumps(body).encode() if body is not None else b"")
        if status.startswith("NATS/1.0 503"):
            raise RuntimeError(f"$JS.API.{api}: no responders (JetStream not up)")
        reply = json.loads(payload)
        if "error" in reply:
            raise RuntimeError(f"$JS.API.{api}: {reply['error']}")
        return reply


def http_get(port, path, timeout=5.0):
    """(status, body) of GET http://127.0.0.1:<port><path>."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()
