"""Setup and cleanup requests carry the load's credentials (issue 17, item 10).

The producers that create resources before the load (``POST /items`` for
``GET /items/{itemId}``) and the cleanup after it go to the same API the load
does: a real service that answers 401 without the key must see it on them too,
or every consumer falls back to a placeholder id and measures 404s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from plog_ci.store.sqlite import open_store
from testing.json_app import json_app
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = json_app(
    r"""

items, lock = {}, threading.Lock()


class Handler(JsonHandler):
    def authorised(self):
        if self.headers.get("X-Key") == "sesame":
            return True
        self.reply(401, {"error": "no key"})
        return False

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, "ok")
        if not self.authorised():
            return
        key = self.path.rsplit("/", 1)[-1]
        with lock:
            item = items.get(key)
        self.reply(200, item) if item else self.reply(404, {"error": "missing"})

    def do_POST(self):
        if not self.authorised():
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with lock:
            key = str(len(items) + 1)
            items[key] = {"id": key, **body}
        self.reply(201, items[key])
"""
)

SPEC = """\
openapi: 3.0.3
info: {title: items, version: "1"}
security: [{key: []}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
  schemas:
    Item:
      type: object
      required: [name]
      properties:
        id: {type: string, readOnly: true}
        name: {type: string}
paths:
  /items:
    post:
      requestBody:
        required: true
        content:
          application/json: {schema: {$ref: "#/components/schemas/Item"}}
      responses:
        "201":
          description: created
          content:
            application/json: {schema: {$ref: "#/components/schemas/Item"}}
  /items/{itemId}:
    get:
      parameters: [{name: itemId, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: ok
          content:
            application/json: {schema: {$ref: "#/components/schemas/Item"}}
"""

PLOG_YML = """\
version: 1
service:
  run: python app.py {port}
  health: /health
openapi: openapi.yaml
load:
  rate: 5
  duration: 2s
  operations: ["GET /items/{itemId}"]
  auth: {type: api_key, env: ITEMS_KEY, name: X-Key, in: header}
gates:
  - error_rate < 1%
compare:
  mode: "off"
"""


def test_producers_send_the_loads_credentials(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("items")
    commit_files(repo, {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": PLOG_YML}, "items")
    done = plog_run(repo, plog_home, {"ITEMS_KEY": "sesame"})
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(plog_home)
    try:
        stats = store.operation_stats(1)["GET /items/{itemId}"]
    finally:
        store.close()
    # Every read found an item that setup created with the key: no 404, no 401.
    assert stats.count > 0 and stats.error_rate == 0.0, stats.errors_by_status
