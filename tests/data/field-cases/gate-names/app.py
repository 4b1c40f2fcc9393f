"""The Jobs API of the gate-names field case (openapi.yaml beside it), for ``plog run``.

``GET /jobs/{jobId}`` answers after about 10 ms (so a 1 ms p95 gate on it fails);
``POST /jobs/{jobId}:cancel`` and ``/`` (health) answer at once. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JOB = re.compile(r"^/jobs/([^/:]+)$")
CANCEL = re.compile(r"^/jobs/([^/:]+):cancel$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, {"ok": True})
        elif match := JOB.match(path):
            time.sleep(0.010)
            self._send(200, {"id": match[1], "state": "running"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if match := CANCEL.match(path):
            self._send(200, {"id": match[1], "state": "cancelled"})
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
