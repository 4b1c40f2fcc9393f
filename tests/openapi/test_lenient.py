"""Loose specs are read as a lenient client reads them, and said (issue 17, item 7)."""

from __future__ import annotations

import json

from plog_ci.config.model import LoadConfig
from plog_ci.loadgen.script import generate
from plog_ci.openapi.load import load_spec_bytes

LOOSE = b"""\
swagger: "2.0"
info: {title: loose, version: "1"}
paths:
  /anything/{id}:
    get:
      parameters:
        - {name: limit, in: query, required: true, type: int}
        - {name: q, in: query, required: true}
      responses:
        "200": {description: ok, schema: {$ref: "#/definitions/Thing"}}
definitions:
  Thing:
    type: object
    properties:
      size: {type: long}
      kind: {type: weird}
      type: {type: string}
"""


def test_loose_constructs_are_read_leniently_and_said_per_operation() -> None:
    spec = load_spec_bytes(LOOSE, "loose.yaml")
    op = spec.operations["GET /anything/{id}"]
    params = {p.name: p for p in op.parameters}
    assert params["limit"].schema == {"type": "integer"}
    assert params["id"].location == "path" and params["id"].required
    thing = op.responses["200"].content["application/json"].schema
    assert thing is not None
    assert thing["properties"]["size"] == {"type": "integer", "format": "int64"}
    assert thing["properties"]["kind"] == {}  # no plain meaning: any type
    assert thing["properties"]["type"] == {"type": "string"}  # a property named type
    script = generate(spec, [op], LoadConfig())
    assert list(script.warnings) == [
        "GET /anything/{id}: path parameter {id} is not declared; sent as a string",
        "GET /anything/{id}: 'type: int' is not an OpenAPI type; read as integer",
        "GET /anything/{id}: query parameter q has no type; sent as a string",
        "GET /anything/{id}: 'type: weird' is not an OpenAPI type; read as any type",
        "GET /anything/{id}: 'type: long' is not an OpenAPI type; read as integer",
    ]
    plan = json.loads(script.text.partition("const PLAN = ")[2].partition(";\n")[0])
    (planned,) = plan["operations"]
    assert planned["pathValues"]["id"]  # a segment, never empty
    assert any(item.startswith("limit=") and item[6:].isdigit() for item in planned["query"])


def test_a_valid_spec_gets_no_lenient_warning() -> None:
    spec = load_spec_bytes(
        b"openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a/{id}:\n    get:\n"
        b"      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]\n"
        b"      responses: {'200': {description: ok}}\n",
        "ok.yaml",
    )
    assert spec.warnings == ()


SECURED = b"""\
openapi: 3.0.3
info: {title: secured, version: "1"}
security: [{basicAuth: []}]
components:
  securitySchemes:
    basicAuth: {type: http, scheme: basic}
paths:
  /private:
    get:
      responses: {"200": {description: ok}}
  /public:
    get:
      security: []
      responses: {"200": {description: ok}}
  /either:
    get:
      security: [{}, {basicAuth: []}]
      responses: {"200": {description: ok}}
"""


def test_operations_that_need_credentials_without_load_auth_are_said() -> None:
    spec = load_spec_bytes(SECURED, "secured.yaml")
    ops = list(spec.operations.values())
    script = generate(spec, ops, LoadConfig())
    assert list(script.warnings) == [
        "GET /private: requires credentials (basicAuth) but load.auth is not set: "
        "sent without them (set load.auth in plog.yml)"
    ]


BUCKETS = b"""\
openapi: 3.0.3
info: {title: buckets, version: "1"}
paths:
  /buckets:
    get:
      responses: {"200": {description: ok}}
    delete:
      responses: {"204": {description: all gone}}
  /buckets/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
    delete:
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"204": {description: gone}}
"""


def test_a_collection_delete_is_not_loaded_beside_what_it_empties() -> None:
    spec = load_spec_bytes(BUCKETS, "buckets.yaml")
    ops = list(spec.operations.values())
    script = generate(spec, ops, LoadConfig())
    assert sorted(script.operations) == [
        "DELETE /buckets/{id}",
        "GET /buckets",
        "GET /buckets/{id}",
    ]
    assert any(
        w.startswith("DELETE /buckets: not loaded: it deletes what GET /buckets read")
        for w in script.warnings
    ), script.warnings
    alone = generate(spec, [spec.operations["DELETE /buckets"]], LoadConfig())
    assert alone.operations == ("DELETE /buckets",)  # asked for alone: loaded


def test_operations_without_security_are_said_and_apply_always_sends_credentials() -> None:
    import dataclasses

    from plog_ci.config.model import AuthConfig

    spec = load_spec_bytes(SECURED, "secured.yaml")
    ops = list(spec.operations.values())
    auth = AuthConfig(type="bearer", env="TOKEN")
    script = generate(spec, ops, LoadConfig(auth=auth))
    assert list(script.warnings) == [
        "1 operation declares no security (security: []) and is sent without credentials "
        "(GET /public); load.auth.apply: always sends them anyway"
    ]

    def flags(text: str) -> dict[str, bool]:
        plan = json.loads(text.partition("const PLAN = ")[2].partition(";\n")[0])
        return {op["name"]: op["auth"] for op in plan["operations"]}

    assert flags(script.text) == {"GET /either": True, "GET /private": True, "GET /public": False}
    always = generate(spec, ops, LoadConfig(auth=dataclasses.replace(auth, apply="always")))
    assert always.warnings == ()
    assert set(flags(always.text).values()) == {True}
