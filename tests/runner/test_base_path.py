"""``plog run`` sends requests under the spec's base path (issue 17, item 2).

Swagger 2.0 ``basePath`` and the path of OpenAPI 3's first server (with its
variables at their defaults) are where the operations live on the service; a
real service that only answers under that path, and counts what it gets, must
see every request there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.openapi.load import load_spec_bytes
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

prefix, port = sys.argv[1], int(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path in ("/health", prefix + "/items")
        with open("paths.log", "a") as log:
            log.write(self.path + "\n")
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

SWAGGER = """\
swagger: "2.0"
info: {title: items, version: "1"}
host: api.example.com
basePath: /v1
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
"""

OPENAPI3 = """\
openapi: 3.0.3
info: {title: items, version: "1"}
servers:
  - url: "https://{region}.example.com/api/{version}/"
    variables:
      region: {default: eu}
      version: {default: v2, enum: [v1, v2]}
paths:
  /items:
    get:
      responses: {"200": {description: ok}}
"""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (SWAGGER, "/v1"),
        (OPENAPI3, "/api/v2"),
        ("openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: /}]\npaths: {}\n", ""),
        (
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: /x/}]\npaths: {}\n",
            "/x",
        ),
        ("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n", ""),
    ],
)
def test_the_base_path_of_a_spec(spec: str, expected: str) -> None:
    assert load_spec_bytes(spec.encode(), "spec.yaml").base_path == expected


@pytest.mark.parametrize(("spec", "prefix"), [(SWAGGER, "/v1"), (OPENAPI3, "/api/v2")])
def test_plog_run_sends_every_request_under_the_base_path(
    new_repo: Callable[..., Path], plog_home: Path, spec: str, prefix: str
) -> None:
    need_k6()
    repo = new_repo("items")
    plog_yml = f"""\
version: 1
service:
  run: python app.py {prefix} {{port}}
  health: /health
openapi: openapi.yaml
load:
  rate: 5
  duration: 2s
  operations: all
gates:
  - error_rate < 1%
compare:
  mode: "off"
"""
    commit_files(repo, {"app.py": APP, "openapi.yaml": spec, "plog.yml": plog_yml}, "items")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout + done.stderr
