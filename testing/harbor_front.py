"""One loopback URL that is both halves of a Harbor, as a real Harbor is: its REST API
(``/api/v2.0/...``) answered by a handler (the tests give the fake that holds every
request and answer to Harbor's published description), and the OCI distribution API
(``/v2/...``) reverse-proxied to a real docker-registry (``container_tools.registry``).

Harbor's API cannot run here; the registry can, so what is pushed, pulled and
scanned is the real image: every manifest the registry accepts (``PUT
/v2/NAME/manifests/REF`` answered 201) is reported to ``on_push(NAME, DIGEST)``
with the registry's ``Docker-Content-Digest`` before podman hears the answer, so
the fake's artifact exists by the time ``podman push`` returns.

With a TLS registry the front speaks TLS with the registry's own certificate (its
SAN is 127.0.0.1, any port), so the same ``ca.crt`` trusts both.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from testing.container_tools import Registry

API = "/api/v2.0/"
_MANIFEST_PUT = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
# Hop-by-hop headers (RFC 9110 7.6.1) and the length, which the front sets itself.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}

ApiHandler = Callable[[httpx.Request], httpx.Response]
PushHook = Callable[[str, str], None]


class HarborFront:
    """A running front: ``host`` is ``127.0.0.1:PORT``; ``url`` with its scheme.
    ``pushes`` lists (repository, digest) as the registry accepted them;
    ``registry_requests`` counts what went to ``/v2/`` (0: nothing reached it)."""

    def __init__(self, server: ThreadingHTTPServer, tls: bool) -> None:
        self.server = server
        self.host = f"127.0.0.1:{server.server_address[1]}"
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self.pushes: list[tuple[str, str]] = []
        self.registry_requests = 0


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body: by Content-Length, or chunked (podman's blob PATCHes)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()  # the CRLF after each chunk
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _handler_class(
    front: Callable[[], HarborFront],
    registry: Registry,
    api: ApiHandler,
    on_push: PushHook,
    scheme: str,
) -> type[BaseHTTPRequestHandler]:
    api_lock = threading.Lock()  # the fake is not written for threads

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the tests read the fake's calls instead

        def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP:
                    self.send_header(name, value)
            if self.command == "HEAD":
                length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
                self.send_header("Content-Length", length)
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _api(self, body: bytes) -> None:
            request = httpx.Request(
                self.command,
                f"{scheme}://{self.headers.get('Host', front().host)}{self.path}",
                headers=[(k, v) for k, v in self.headers.items() if k.lower() not in _HOP],
                content=body,
            )
            try:
                with api_lock:
                    response = api(request)
                    response.read()
            except AssertionError as exc:  # off the description: the fake kept it too
                self._send(500, [("Content-Type", "text/plain")], str(exc).encode())
                return
            self._send(response.status_code, list(response.headers.items()), response.content)

        def _registry(self, body: bytes) -> None:
            front().registry_requests += 1
            host, port = registry.host.rsplit(":", 1)
            if registry.cert_dir is not None:
                context = ssl.create_default_context(cafile=str(registry.cert_dir / "ca.crt"))
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, int(port), context=context, timeout=120
                )
            else:
                conn = http.client.HTTPConnection(host, int(port), timeout=120)
            try:
                # Every header line as sent: podman sends Accept once per manifest type.
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in _HOP and name.lower() != "host":
                        conn.putheader(name, value)
                # Location headers must come back to the front, not to the registry.
                conn.putheader("Host", front().host)
                conn.putheader("X-Forwarded-Proto", scheme)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                answer = conn.getresponse()
                data = answer.read()
                got = answer.getheaders()
            finally:
                conn.close()
            match = _MANIFEST_PUT.match(self.path.split("?", 1)[0])
            if self.command == "PUT" and match and answer.status == 201:
                digest = answer.getheader("Docker-Content-Digest", "")
                front().pushes.append((match["name"], digest))
                on_push(match["name"], digest)
            self._send(answer.status, got, data)

        def _any(self) -> None:
            body = _read_body(self)
            if self.path.startswith(API):
                self._api(body)
            else:
                self._registry(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return Handler


@contextlib.contextmanager
def harbor_front(registry: Registry, api: ApiHandler, on_push: PushHook) -> Iterator[HarborFront]:
    """Serve the front on a free loopback port until the block ends (see the module doc)."""
    holder: list[HarborFront] = []
    scheme = "https" if registry.cert_dir is not None else "http"
    handler = _handler_class(lambda: holder[0], registry, api, on_push, scheme)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if registry.cert_dir is not None:
        tls = registry.directory / "tls"  # where registry() keeps its server certificate
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "server.crt", tls / "server.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    holder.append(HarborFront(server, registry.cert_dir is not None))
    thread = threading.Thread(target=server.serve_forever, name="harbor-front", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
