"""A PUT whose body names the resource's identity updates it, never renames it
(issue 17, item 5).

The service keys users by ``username`` and renames a user when a PUT's body gives
another one, as real APIs do. With a generated username in the body, every PUT
would move a user that setup created away from the name the readers use, and
their GETs would measure 404s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from plog_ci.config.model import LoadConfig
from plog_ci.loadgen.identity import identity_names
from plog_ci.loadgen.planning import plan_operations
from plog_ci.openapi.load import load_spec_bytes
from plog_ci.store.sqlite import open_store
from testing.json_app import json_app
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = json_app(
    r"""

users, lock = {}, threading.Lock()


class Handler(JsonHandler):
    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, "ok")
        name = self.path.rsplit("/", 1)[-1]
        with lock:
            user = users.get(name)
        self.reply(200, user) if user else self.reply(404, {"e": "missing"})

    def do_POST(self):
        user = self.body()
        with lock:  # names are unique: the service makes them so
            user["username"] += str(len(users) + 1)
            users[user["username"]] = user
        self.reply(201, user)

    def do_PUT(self):
        name, user = self.path.rsplit("/", 1)[-1], self.body()
        with lock:
            if name not in users:
                return self.reply(404, {"e": "missing"})
            del users[name]
            users[user["username"]] = user  # a new username renames the user
        self.reply(200, user)
"""
)

SPEC = """\
openapi: 3.0.3
info: {title: users, version: "1"}
components:
  schemas:
    User:
      type: object
      required: [username, email]
      properties:
        username: {type: string, pattern: "^[a-z]{6,10}$"}
        email: {type: string, format: email}
paths:
  /users:
    post:
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/User"}}}
      responses:
        "201": {description: made, content: {application/json: {schema: {$ref: "#/$USER"}}}}
  /users/{username}:
    parameters: [{name: username, in: path, required: true, schema: {type: string}}]
    get:
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/$USER"}}}}
    put:
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/User"}}}
      responses:
        "200": {description: ok, content: {application/json: {schema: {$ref: "#/$USER"}}}}
""".replace("#/$USER", "#/components/schemas/User")

PLOG_YML = """\
version: 1
service:
  run: python app.py {port}
  health: /health
openapi: openapi.yaml
load:
  rate: 10
  duration: 2s
  setup_resources: 2
  operations: ["GET /users/{username}", "PUT /users/{username}"]
gates:
  - error_rate < 1%
compare:
  mode: "off"
"""


def test_identity_names_follow_the_path_parameter() -> None:
    assert identity_names("username") == ("username",)
    assert identity_names("petId") == ("petId", "pet_id", "id", "_id", "uuid")
    assert identity_names("id") == ("id", "_id", "uuid")


def test_the_put_body_carries_a_marker_where_the_identity_goes() -> None:
    spec = load_spec_bytes(SPEC.encode(), "openapi.yaml")
    put = spec.operations["PUT /users/{username}"]
    (plan,) = plan_operations(spec, [put], {}, LoadConfig(), None, []).plans
    body = json.loads(plan["body"])
    assert body["username"] == "__plog_identity__" and "@" in body["email"]
    identity = plan["identity"]
    assert identity["param"] == "username" and identity["numeric"] is False
    assert json.loads(identity["fallback"]) != "__plog_identity__"


def test_a_put_with_the_identity_in_its_body_leaves_the_readers_their_users(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("users")
    commit_files(repo, {"app.py": APP, "openapi.yaml": SPEC, "plog.yml": PLOG_YML}, "users")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(plog_home)
    try:
        stats = store.operation_stats(1)
    finally:
        store.close()
    for name in ("GET /users/{username}", "PUT /users/{username}"):
        assert stats[name].count > 0 and stats[name].error_rate == 0.0, (
            name,
            stats[name].errors_by_status,
        )
