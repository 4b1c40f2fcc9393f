"""Ids come from what the producer really answers, not only from what its schema names
(issue 17, items 6 and 10).

Real services whose create answers the new id under ``data.id``, only in a
``Location`` header, as ``name`` for a resource addressed as
``/terminals/{terminal_id}``, as ``slug`` beside a display ``name`` for
``/teams/{team_slug}``, or as ``uid`` for ``/members/{member_id}``, with response
schemas that name no id: every
consumer must read a resource that setup created (no 404 on a placeholder id).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plog_ci.store.sqlite import open_store
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = r"""
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

style, port = sys.argv[1], int(sys.argv[2])
made, lock = set(), threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, "ok")
        key = self.path.rsplit("/", 1)[-1]
        with lock:
            known = key in made
        self.reply(200, {"ok": key}) if known else self.reply(404, {"error": key})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            key = f"r{len(made) + 1}"
            made.add(key)
        if style == "data":
            self.reply(201, {"data": {"id": key, "kind": "bucket"}})
        elif style == "location":
            self.reply(201, None, [("Location", f"/things/{key}")])
        elif style == "slug":  # keyed by slug; the display name is something else
            self.reply(201, {"name": "Team " + key, "slug": key})
        elif style == "uid":  # one id-like field under a name of its own
            self.reply(201, {"uid": key, "email": "a@example.com", "role": "member"})
        else:
            self.reply(201, {"name": key, "status": "ready"})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def spec(collection: str, param: str) -> str:
    return f"""\
openapi: 3.0.3
info: {{title: ids, version: "1"}}
paths:
  /{collection}:
    post:
      requestBody:
        content:
          application/json: {{schema: {{type: object}}}}
      responses:
        "201":
          description: created
          content:
            application/json: {{schema: {{type: object}}}}
  /{collection}/{{{param}}}:
    get:
      parameters: [{{name: {param}, in: path, required: true, schema: {{type: string}}}}]
      responses: {{"200": {{description: ok}}}}
"""


@pytest.mark.parametrize(
    ("style", "collection", "param"),
    [
        ("data", "buckets", "bucket_id"),
        ("location", "things", "thingId"),
        ("name", "terminals", "terminal_id"),
        ("slug", "teams", "team_slug"),
        ("uid", "members", "member_id"),
    ],
)
def test_consumers_read_what_setup_created(
    new_repo: Callable[..., Path], plog_home: Path, style: str, collection: str, param: str
) -> None:
    need_k6()
    repo = new_repo(style)
    plog_yml = f"""\
version: 1
service:
  run: python app.py {style} {{port}}
  health: /health
openapi: openapi.yaml
load:
  rate: 5
  duration: 2s
  operations: ["GET /{collection}/{{{param}}}"]
gates:
  - error_rate < 1%
compare:
  mode: "off"
"""
    commit_files(
        repo, {"app.py": APP, "openapi.yaml": spec(collection, param), "plog.yml": plog_yml}, style
    )
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(plog_home)
    try:
        stats = store.operation_stats(1)[f"GET /{collection}/{{{param}}}"]
    finally:
        store.close()
    assert stats.count > 0 and stats.error_rate == 0.0, stats.errors_by_status
