"""A loopback HTTP server that records requests as they came (request line, every
header in order, body bytes), and the quickest way to send a spec's requests
through it: ``plog gen``, then ``k6 run --vus 1 --iterations 1`` (under the load lock).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from click.testing import CliRunner

from plog_ci.cli import cli
from testing.k6_tools import need_k6


@dataclass
class Seen:
    """One request as it reached the server."""

    line: str  # "GET /a?b HTTP/1.1", byte for byte
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def method(self) -> str:
        return self.line.split(" ")[0]

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]

    @property
    def path(self) -> str:
        return self.target.split("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(found) if found else None


@dataclass
class Wire:
    url: str
    seen: list[Seen] = field(default_factory=list)
    # (method, path prefix) -> (status, body): the first that matches answers.
    answers: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)

    def one(self, method: str, path_start: str) -> Seen:
        found = [s for s in self.seen if s.method == method and s.path.startswith(path_start)]
        assert found, f"no {method} {path_start}* among {[s.line for s in self.seen]}"
        return found[-1]


@contextmanager
def wire_server() -> Iterator[Wire]:
    wire = Wire("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                wire.seen.append(Seen(self.requestline, list(self.headers.items()), body))
            status, answer = 200, b"{}"
            for (method, prefix), reply in wire.answers.items():
                if method == self.command and unquote(self.path).startswith(prefix):
                    status, answer = reply
                    break
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wire.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield wire
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Generated:
    script: Path
    output: str  # plog gen's stdout and stderr (warnings)
    plan: dict[str, Any]


def plog_gen(spec: Path | dict[str, Any], tmp: Path, *args: str) -> Generated:
    """``plog gen SPEC -o script.js ARGS`` (a dict is written as JSON first)."""
    if isinstance(spec, dict):
        path = tmp / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        spec = path
    script = tmp / "script.js"
    result = CliRunner().invoke(cli, ["gen", str(spec), "-o", str(script), *args])
    assert result.exit_code == 0, result.output
    literal = script.read_text(encoding="utf-8").split("const PLAN = ", 1)[1].split(";\n", 1)[0]
    return Generated(script, result.output, json.loads(literal))


def k6_once(script: Path, url: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """``k6 run --vus 1 --iterations 1 script.js`` against ``url``, one k6 at a time."""
    env = {**os.environ, "BASE_URL": url, "K6_NO_USAGE_REPORT": "true"}
    args = [need_k6(), "run", "--vus", "1", "--iterations", "1"]
    return subprocess.run(
        [*args, "--no-color", str(script)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=script.parent,
    )
