"""The HTTP side: a threaded loopback server that hands each request to ``Api`` and
writes its answer (JSON, text, or a chunked watch stream), logging every request."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from testing.fake_kube.api import Api


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it: no headers (the token stays out), and a Secret's
    body replaced by ``b"<secret>"`` (read the stored Secret instead)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    code: int
    body: bytes


class KubeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: Api, tls: ssl.SSLContext) -> None:
        self.api = api
        self.log: list[Request] = []
        self.log_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        # the handshake runs in the request's thread: a stalled client never blocks accept()
        self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KubeHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(30)

    def handle(self) -> None:
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client that gave up, or spoke plain http
        super().handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.api.handle(self.command, unquote(parts.path), query, headers, body)
        with self.server.log_lock:
            self.server.log.append(
                Request(
                    self.command,
                    unquote(parts.path),
                    query,
                    headers.get("content-type", ""),
                    reply.code,
                    b"<secret>" if "/secrets" in parts.path else body,
                )
            )
        if reply.events is not None:
            self._stream(reply.code, reply.events)
            return
        if isinstance(reply.body, bytes):
            data = reply.body
        elif isinstance(reply.body, str):
            data = reply.body.encode()
        else:
            data = json.dumps(reply.body).encode()
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, code: int, events: Any) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.wfile.flush()
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # ssl.SSLError included
            pass  # the client stopped watching
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass
