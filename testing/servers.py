"""Real servers on loopback for tests: a recording HTTP server, the example service.

``Served`` is the address of a WSGI app a test serves (the git tests' ``serve_app``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from testing.paths import EXAMPLE


@dataclass
class Served:
    url: str
    app: object


@dataclass
class Recorder:
    """What a recording server saw: (method, raw path, headers, body), and when."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() of each request
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def recording_server(
    status: int = 200, body: bytes = b'{"id": 7}'
) -> Iterator[tuple[str, Recorder]]:
    """A loopback HTTP server that answers everything with ``status`` and records it."""
    rec = Recorder(status=status)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            with rec.lock:
                rec.requests.append((self.command, self.path, dict(self.headers), data))
                rec.times.append(time.monotonic())
            self.send_response(rec.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", rec
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def petstore() -> Iterator[str]:
    """The example service, started for real on a free loopback port."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    app = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "app.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or app.poll() is not None:
                raise RuntimeError("petstore did not start")
            time.sleep(0.1)
        yield url
    finally:
        app.terminate()
        app.wait(timeout=10)
