"""The load reaches the deployed service and allow-listed hosts only (issue 15).

Loopback is admitted only at the exact host:port of the deployed service(s): the
generated script builds every URL from the targets it is given and follows no
redirect, so neither a spec (its ``servers``, a link's ``server``) nor the service
under test (a ``Location`` elsewhere) can send it to another port on this
machine. Any other host must be in ``load.allow_hosts`` and resolve, at run
start, to no loopback, link-local, unspecified or metadata address.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from plog_ci.config.model import LoadConfig
from plog_ci.errors import InputError
from plog_ci.loadgen.script import FALLBACK_BASE, generate
from plog_ci.runner.k6 import check_target, run_k6
from testing.k6_tools import k6_inspect, need_k6
from testing.servers import recording_server
from testing.specs import spec_from_dict

QUICK = LoadConfig(profile="smoke", rate=4, duration_s=2, vus=2)
PUBLIC = "93.184.216.34"


def pets_spec(elsewhere: str) -> dict[str, Any]:
    """A small petstore whose servers and links point at ``elsewhere``."""
    ok = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "pets", "version": "1"},
        "servers": [{"url": elsewhere}, {"url": "http://169.254.169.254/latest"}],
        "paths": {
            "/pets": {
                "get": {"operationId": "listPets", "responses": {"200": ok}},
                "post": {
                    "operationId": "createPet",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}},
                                    "required": ["name"],
                                }
                            }
                        }
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"id": {"type": "integer"}},
                                    }
                                }
                            },
                            "links": {
                                "GetPet": {
                                    "operationId": "showPet",
                                    "parameters": {"petId": "$response.body#/id"},
                                    "server": {"url": elsewhere},
                                }
                            },
                        }
                    },
                },
            },
            "/pets/{petId}": {
                "get": {
                    "operationId": "showPet",
                    "parameters": [
                        {
                            "name": "petId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        }
                    ],
                    "responses": {"200": ok},
                }
            },
        },
    }


@contextmanager
def hostile_petstore(elsewhere: str) -> Iterator[tuple[str, list[str]]]:
    """A petstore on 127.0.0.1 that answers some requests with a redirect elsewhere."""
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: Any, location: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with lock:
                seen.append(f"GET {self.path}")
            if self.path.startswith("/pets/"):
                # Another port on this machine, by address or by name.
                where = elsewhere
                if self.path.endswith("2"):
                    where = elsewhere.replace("127.0.0.1", "localhost")
                self._answer(302, {}, f"{where}/stolen{self.path}")
            else:
                self._answer(200, [{"id": 1}])

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            with lock:
                seen.append("POST /pets")
            self._answer(201, {"id": 1 + len(seen) % 2}, f"{elsewhere}/created")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_real_k6_reaches_only_the_deployed_service(tmp_path):
    """The spec's servers and links and the service's redirects name another
    loopback port: a recording server there receives nothing."""
    need_k6()
    with recording_server() as (elsewhere, rec), hostile_petstore(elsewhere) as (url, seen):
        spec = spec_from_dict(pets_spec(elsewhere))
        script = generate(spec, list(spec.operations.values()), QUICK)
        assert script.default_base_url == FALLBACK_BASE  # a loopback server is never taken
        assert "169.254.169.254" not in script.allow_hosts
        result = run_k6(script, url, tmp_path / "k6", timeout_s=60)
    assert rec.requests == []
    assert any(s.startswith("GET /pets/") for s in seen) and "POST /pets" in seen
    shown = result.operations["GET /pets/{petId}"]
    assert shown.count > 0 and shown.error_rate == 1.0  # the 302 is the answer, not followed
    assert result.operations["GET /pets"].error_rate == 0.0


def test_the_script_refuses_forbidden_targets_and_follows_no_redirect(tmp_path):
    spec = spec_from_dict(pets_spec("http://127.0.0.1:9"))
    script = generate(spec, list(spec.operations.values()), QUICK)
    for target in ("http://169.254.169.254", "http://[fd00:ec2::254]", "http://127.1:9"):
        refused = k6_inspect(script.text, tmp_path, f"BASE_URL={target}")
        assert refused.returncode != 0 and "allow-list" in refused.stderr, target
    ok = k6_inspect(script.text, tmp_path, "BASE_URL=http://127.0.0.1:8081")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert json.loads(ok.stdout)["maxRedirects"] == 0
    named = k6_inspect(script.text, tmp_path, "BASE_URL=http://localhost:8081")
    options = json.loads(named.stdout)
    assert options["hosts"] == {"localhost": "127.0.0.1"} and options["maxRedirects"] == 0


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Name -> addresses, instead of DNS (no real resolution in these tests)."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: Any, family: int = 0, *args: Any, **kw: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        out = []
        for address in table[host]:
            v6 = ":" in address
            if family not in (0, socket.AF_UNSPEC) and family != (
                socket.AF_INET6 if v6 else socket.AF_INET
            ):
                continue
            sockaddr = (address, port or 0, 0, 0) if v6 else (address, port or 0)
            out.append(
                (socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr)
            )
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, "no address of that family")
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def allowed_script(*hosts: str):
    spec = spec_from_dict(pets_spec("http://127.0.0.1:9"))
    return generate(spec, list(spec.operations.values()), LoadConfig(allow_hosts=hosts))


def test_a_name_resolving_to_loopback_is_refused(resolver):
    resolver["localtest.me"] = ["127.0.0.1"]
    script = allowed_script("localtest.me")
    with pytest.raises(InputError, match=r"'localtest\.me'.*127\.0\.0\.1.*loopback"):
        check_target("http://localtest.me:8080", script)


def test_a_name_resolving_to_metadata_is_refused(resolver):
    resolver["api.example.com"] = ["169.254.169.254"]
    resolver["v6.example.com"] = [PUBLIC, "fd00:ec2::254"]
    script = allowed_script("api.example.com", "v6.example.com")
    with pytest.raises(InputError, match=r"'api\.example\.com'.*169\.254\.169\.254.*metadata"):
        check_target("https://api.example.com", script)
    with pytest.raises(InputError, match=r"'v6\.example\.com'.*fd00:ec2::254.*metadata"):
        check_target("https://v6.example.com", script)


def test_an_allowed_public_name_is_pinned(resolver):
    resolver["api.example.com"] = [PUBLIC]
    script = allowed_script("api.example.com")
    assert check_target("https://api.example.com", script) == {"PLOG_TARGET_IP": PUBLIC}
    with pytest.raises(InputError, match="not in the allow-list"):
        check_target("https://other.example.com", script)


def test_loopback_only_as_the_deployed_service(resolver):
    script = allowed_script()
    # Loopback as the deployed service names it; never the spec's metadata server.
    assert set(script.allow_hosts) == {"127.0.0.1", "localhost", "::1"}
    assert check_target("http://127.0.0.1:8081 http://127.0.0.1:8082", script) == {}
    for target in ("http://127.1:8081", "http://0.0.0.0:8081", "http://169.254.169.254"):
        with pytest.raises(InputError):
            check_target(target, script)
