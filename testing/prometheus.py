"""A real Prometheus (Debian package ``prometheus``) on loopback, its TSDB backfilled
from recorded OpenMetrics samples, and a bearer-token front like the proxies
(kube-rbac-proxy, an Ingress with auth) that guard Prometheus in clusters.

Recorded timestamps are shifted to the recent past before ``promtool tsdb
create-blocks-from openmetrics``: Prometheus deletes blocks older than its
retention (15 d by default). The shift is a whole number of hours, so the
recordings keep their alignment to query steps. No scrape targets: only the
backfilled blocks answer.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from plog_ci.deploy.process import free_port
from plog_ci.proc import run
from testing.influx_servers import Server, require_binary

_SAMPLE = re.compile(r"^(?P<series>[^#].*) (?P<value>\S+) (?P<ts>\d+(?:\.\d+)?)$")


def shifted(text: str, shift_s: int) -> str:
    """OpenMetrics ``text`` with every sample's timestamp moved by ``shift_s``."""
    out = []
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found is not None:
            ts = float(found["ts"]) + shift_s
            stamp = str(int(ts)) if ts.is_integer() else repr(ts)
            line = f"{found['series']} {found['value']} {stamp}"
        out.append(line)
    return "\n".join(out) + "\n"


def recent_shift(first_ts: float, ago_s: float = 3 * 3600) -> int:
    """Whole hours that move ``first_ts`` to about ``ago_s`` before now."""
    return int((time.time() - ago_s - first_ts) // 3600 * 3600)


class PrometheusServer(Server):
    """``prometheus`` on 127.0.0.1 serving the blocks made from ``recording`` (an
    OpenMetrics file whose first sample is at ``first_ts``) shifted by ``shift``."""

    def __init__(self, tmp: Path, recording: Path, first_ts: float) -> None:
        binary = require_binary("prometheus")
        promtool = require_binary("promtool")
        tmp.mkdir(parents=True, exist_ok=True)
        self.shift = recent_shift(first_ts)
        moved = tmp / "backfill.om"
        moved.write_text(shifted(recording.read_text(encoding="utf-8"), self.shift))
        data = tmp / "data"
        run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(moved), str(data)])
        config = tmp / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=30d",
                "--log.level=warn",
            ],
            f"{self.url}/-/ready",
            200,
            tmp,
        )


class _Front(BaseHTTPRequestHandler):
    upstream = ""
    token = ""

    def _forward(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._answer(401, b"Unauthorized\n", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {"Content-Type": self.headers.get("Content-Type", "")} if body else {}
        got = httpx.request(
            self.command, self.upstream + self.path, content=body, headers=headers, timeout=30
        )
        self._answer(got.status_code, got.content, got.headers.get("Content-Type", ""))

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _forward
    do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def bearer_front(upstream: str, token: str) -> Iterator[str]:
    """A loopback proxy in front of ``upstream`` that answers 401 unless the request
    carries ``Authorization: Bearer <token>``; yields its URL."""
    handler = type("Front", (_Front,), {"upstream": upstream, "token": token})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
