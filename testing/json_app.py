"""A tiny JSON service for tests, as source text run by ``python app.py PORT``.

``json_app(code)`` is a whole app: the standard library's threading HTTP server, a
``JsonHandler`` base with ``reply(status, body)`` (JSON, with Content-Length) and
``body()`` (the request's JSON, {} when empty), and ``code``, which defines
``class Handler(JsonHandler)`` and any state it keeps. No third-party package: the
app runs on any Python.
"""

from __future__ import annotations

PRELUDE = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    def reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def log_message(self, *args):
        pass

"""

SERVE = '\nThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()\n'


def json_app(code: str) -> str:
    """The app's source: the prelude, ``code`` (defining ``Handler``), the server."""
    return PRELUDE + code + SERVE
