"""Keywords beside ``$ref``: applied in OpenAPI 3.1 schemas, ignored in 3.0 and 2.0.

OpenAPI 3.1 schemas are JSON Schema 2020-12, where ``$ref`` is one applicator
among the others (JSON Schema Core 2020-12 section 8.2.3.1), so
``{"$ref": X, "minimum": 100}`` means X and ``minimum: 100``: the loader gives
``{"allOf": [X], "minimum": 100}`` with X the shared resolved component. In
3.0 (section 4.7.25) and Swagger 2.0 siblings of ``$ref`` are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import DATA

from plog_ci.openapi.load import load_spec_bytes, load_spec_file
from plog_ci.openapi.model import Spec

CASE = DATA / "field-cases" / "ref-siblings-31"


def _body(spec: Spec, key: str = "POST /invoices") -> Any:
    body = spec.operations[key].request_body
    assert body is not None
    return body.content["application/json"].schema


def test_field_case_ref_siblings_31_keeps_minimum_and_example_beside_the_target() -> None:
    base = load_spec_file(CASE / "base.yaml")
    head = load_spec_file(CASE / "revision.yaml")
    for spec, minimum in ((base, 100), (head, 500)):
        props = _body(spec)["properties"]
        money = spec.raw["components"]["schemas"]["Money"]
        assert props["total"] == {"allOf": [money], "minimum": minimum}
        assert props["total"]["allOf"][0] is money  # the shared component, not a copy
        assert money == {"type": "integer", "minimum": 1}
        currency = spec.raw["components"]["schemas"]["Currency"]
        assert props["currency"] == {"allOf": [currency], "example": "NOK"}
        assert props["currency"]["allOf"][0] is currency
        line = spec.raw["components"]["schemas"]["Invoice"]["$defs"]["Line"]
        assert props["lines"]["items"] is line


def _doc(version: str, schema: dict[str, Any], **components: Any) -> bytes:
    doc = {
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "post": {
                    "parameters": [
                        {
                            "$ref": "#/components/parameters/Limit",
                            "description": "overridden",
                            "required": True,
                        }
                    ],
                    "requestBody": {"content": {"application/json": {"schema": schema}}},
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {
            "schemas": {"Money": {"type": "integer", "minimum": 1}, **components},
            "parameters": {
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}
            },
        },
    }
    return json.dumps(doc).encode()


SIBLINGS = {
    "type": "object",
    "properties": {
        "total": {"$ref": "#/components/schemas/Money", "minimum": 100, "example": 250},
        "noted": {"$ref": "#/components/schemas/Money", "description": "just words"},
        "both": {
            "$ref": "#/components/schemas/Money",
            "allOf": [{"maximum": 900}],
            "readOnly": True,
        },
    },
}


def test_31_siblings_apply_with_the_target_through_allof() -> None:
    spec = load_spec_bytes(_doc("3.1.0", SIBLINGS), "s.json")
    money = spec.raw["components"]["schemas"]["Money"]
    props = _body(spec, "POST /a")["properties"]
    assert props["total"] == {"allOf": [money], "minimum": 100, "example": 250}
    assert props["total"]["allOf"][0] is money
    assert props["noted"] is money  # annotations only: nothing to apply
    assert props["both"] == {"allOf": [money, {"maximum": 900}], "readOnly": True}
    # a Reference Object outside a schema: its extra keys are ignored (3.1 section 4.8.23)
    (param,) = spec.operations["POST /a"].parameters
    assert (param.name, param.required) == ("limit", False)


def test_30_and_20_siblings_of_ref_are_ignored() -> None:
    spec = load_spec_bytes(_doc("3.0.3", SIBLINGS), "s.json")
    money = spec.raw["components"]["schemas"]["Money"]
    props = _body(spec, "POST /a")["properties"]
    assert props["total"] is money
    assert props["both"] is money
    swagger = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "post": {
                    "parameters": [
                        {
                            "name": "body",
                            "in": "body",
                            "schema": {"$ref": "#/definitions/Money", "minimum": 100},
                        }
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "definitions": {"Money": {"type": "integer", "minimum": 1}},
    }
    spec = load_spec_bytes(json.dumps(swagger).encode(), "s2.json")
    assert _body(spec, "POST /a") is spec.raw["definitions"]["Money"]


def test_31_recursion_beside_siblings_is_still_marked() -> None:
    node = {
        "type": "object",
        "properties": {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "parent": {"$ref": "#/components/schemas/Node", "readOnly": True},
        },
    }
    spec = load_spec_bytes(
        _doc("3.1.0", {"$ref": "#/components/schemas/Node", "maxProperties": 5}, Node=node),
        "r.json",
    )
    body = _body(spec, "POST /a")
    resolved = spec.raw["components"]["schemas"]["Node"]
    assert body == {"allOf": [resolved], "maxProperties": 5}
    marker = {"$ref": "#/components/schemas/Node", "x-plog-recursive": True}
    assert resolved["properties"]["children"]["items"] == marker
    assert resolved["properties"]["parent"] == {"allOf": [marker], "readOnly": True}


def test_31_siblings_in_a_split_spec(tmp_path: Path) -> None:
    (tmp_path / "money.yaml").write_text("type: integer\nminimum: 1\n")
    (tmp_path / "amount.yaml").write_text("$ref: money.yaml\nmaximum: 10\n")
    schema = {
        "type": "object",
        "properties": {"a": {"$ref": "amount.yaml"}, "b": {"$ref": "money.yaml", "minimum": 3}},
    }
    (tmp_path / "openapi.json").write_text(_doc("3.1.0", schema).decode())
    spec = load_spec_file(tmp_path / "openapi.json")
    props = _body(spec, "POST /a")["properties"]
    assert props["a"] == {"allOf": [{"type": "integer", "minimum": 1}], "maximum": 10}
    assert props["b"] == {"allOf": [{"type": "integer", "minimum": 1}], "minimum": 3}
    assert props["a"]["allOf"][0] is props["b"]["allOf"][0]
