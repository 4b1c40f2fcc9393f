"""Generated values, issue 16 field cases and kinds: recursion, exact integers, .inf,
OpenAPI 3.1 keywords (type arrays, const, examples, exclusive bounds, $ref siblings,
prefixItems, contains, dependentRequired, if/then/else), readOnly/writeOnly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plog_ci.loadgen.pattern import sample, to_python
from plog_ci.loadgen.validity import errors
from plog_ci.loadgen.values import for_media, for_parameter, from_schema
from plog_ci.openapi.load import load_spec_file

CASES = Path(__file__).resolve().parents[1] / "data" / "field-cases"


def _body(spec_file: Path, key: str, warnings: list[str] | None = None) -> object:
    spec = load_spec_file(spec_file, root=CASES)
    op = spec.operations[key]
    assert op.request_body is not None
    return for_media(op.request_body.content["application/json"], warnings=warnings)


def test_recursive_tree_gets_the_smallest_valid_instance() -> None:
    notes: list[str] = []
    body = _body(CASES / "recursive-schemas.yaml", "POST /trees", notes)
    assert json.dumps(body) == '{"name": "example", "children": []}'
    assert notes == []
    body = _body(CASES / "recursive-schemas.yaml", "POST /categories")
    assert body == {
        "category_id": "00000000-0000-4000-8000-000000000001",
        "category_label": "example",
    }


def test_required_recursive_object_goes_to_the_least_depth() -> None:
    node: dict = {
        "type": "object",
        "required": ["name", "child"],
        "properties": {"name": {"type": "string"}},
    }
    leaf = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    node["properties"]["child"] = {"oneOf": [{"$ref": "#/N", "x-plog-recursive": True}, leaf]}
    assert from_schema(node, root={"N": node}) == {"name": "example", "child": {"name": "example"}}


def test_int64_values_exact() -> None:
    spec = load_spec_file(CASES / "int64-values.yaml", root=CASES)
    body = for_media(spec.operations["POST /entries"].request_body.content["application/json"])
    assert body == {"accountId": 9007199254740993, "amount": 5}
    assert type(body["accountId"]) is int
    params = {
        p.name: for_parameter(p) for p in spec.operations["GET /entries/{entryId}"].parameters
    }
    assert params == {"entryId": 9007199254740993, "after": 9007199254740993}
    assert all(type(v) is int for v in params.values())


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer", "minimum": 9007199254740993}, 9007199254740993),
        ({"type": "integer", "minimum": 2**70 + 1, "multipleOf": 2**69}, 2**70 + 2**69),
        ({"type": "integer", "exclusiveMinimum": 9007199254740993}, 9007199254740994),
        ({"type": "integer", "minimum": 10, "exclusiveMinimum": True}, 11),  # 3.0 spelling
        ({"type": "integer", "multipleOf": 2.5, "minimum": 3}, 5),
        ({"type": "integer", "format": "int32", "minimum": 2**40}, None),  # cannot be
        ({"type": "number", "multipleOf": 0.01, "minimum": 0.05, "maximum": 0.07}, 0.06),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.5),
    ],
)
def test_numbers_exact(schema: dict, value: object) -> None:
    got = from_schema(schema)
    if value is None:
        assert errors(got, schema)  # reported, never claimed valid
    else:
        assert got == value and type(got) is type(value)


def test_yaml_inf_example_replaced_with_warning() -> None:
    notes: list[str] = []
    body = _body(CASES / "yaml-special-floats.yaml", "POST /readings", notes)
    assert body == {"sensor": "probe-1", "upperBound": 1.0}
    assert notes == [
        "example .inf at /upperBound cannot be sent as JSON; generated 1.0 from the schema"
    ]
    json.dumps(body, allow_nan=False)
    notes = []
    assert (
        from_schema({"type": "number", "default": float("nan"), "maximum": 0}, warnings=notes)
        == 0.0
    )
    assert notes == ["default .nan at / cannot be sent as JSON; generated 0.0 from the schema"]


def test_ref_siblings_31() -> None:
    body = _body(CASES / "ref-siblings-31" / "base.yaml", "POST /invoices")
    assert body == {"currency": "NOK", "total": 100, "lines": [{"sku": "SKU-1"}]}
    # as the loader delivers 3.1 $ref siblings
    assert from_schema({"allOf": [{"type": "integer", "minimum": 1}], "minimum": 100}) == 100
    assert from_schema({"allOf": [{"type": "string"}], "example": "NOK"}) == "NOK"
    assert (
        from_schema({"allOf": [{"type": "string", "pattern": "^[A-Z]{3}$"}], "example": "x"})
        == "AAA"
    )


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": ["null", "integer"], "minimum": 3}, 3),
        ({"type": "null"}, None),
        ({"const": "fixed"}, "fixed"),
        ({"type": "string", "examples": [7, "seven"]}, "seven"),  # the first that validates
        ({"type": "string", "example": "toolong", "maxLength": 3}, "exa"),
        ({"type": "integer", "enum": ["x", 4]}, 4),
        (
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "boolean"}],
                "minItems": 2,
            },
            [1, True],
        ),
        (
            {
                "type": "array",
                "items": {"type": "integer"},
                "contains": {"minimum": 5},
                "minContains": 2,
                "uniqueItems": True,
            },
            [5, 6],
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
            ["example", "example1", "example2"],
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                "required": ["a"],
                "dependentRequired": {"a": ["b"]},
            },
            {"a": "example", "b": 1},
        ),
        (
            {"type": "string", "contentMediaType": "application/json", "contentEncoding": "base64"},
            "e30=",
        ),
        ({"type": "string", "not": {"pattern": "^[a-z]+$"}}, "example!"),
        (
            {
                "type": "object",
                "properties": {"k": {"type": "string"}},
                "required": ["k"],
                "if": {"properties": {"k": {"const": "example"}}},
                "then": {"required": ["n"], "properties": {"n": {"type": "integer"}}},
            },
            {"k": "example", "n": 1},
        ),
        (
            {
                "type": "object",
                "required": ["x"],
                "minProperties": 2,
                "additionalProperties": {"type": "integer"},
            },
            {"x": 1, "key1": 1},
        ),
        ({"type": "string", "nullable": True, "enum": ["a", None]}, "a"),
    ],
)
def test_31_and_json_schema_keywords(schema: dict, value: object) -> None:
    got = from_schema(schema)
    assert got == value
    assert errors(got, schema) == []


def test_read_only_and_write_only_wherever_they_sit() -> None:
    ident = {"type": "integer", "readOnly": True}
    secret = {"type": "string", "writeOnly": True}
    schema = {
        "allOf": [
            {"type": "object", "required": ["id", "name"], "properties": {"id": ident}},
            {
                "properties": {"name": {"type": "string"}, "password": secret},
                "required": ["password"],
            },
        ],
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["id", "v"],
                    "properties": {"id": ident, "v": {"type": "integer"}},
                },
            },
            "meta": {
                "type": "object",
                "required": ["created"],
                "properties": {"created": {"allOf": [{"type": "string"}], "readOnly": True}},
            },
        },
        "required": ["items", "meta"],
    }
    request = from_schema(schema)
    assert request == {"name": "example", "password": "example", "items": [{"v": 1}], "meta": {}}
    assert errors(request, schema, dialect="3.0") == []
    response = from_schema(schema, request=False)
    assert (
        "password" not in response
        and response["id"] == 1
        and response["meta"] == {"created": "example"}
    )
    # an example carrying readOnly properties is used without them
    example = {
        "id": 9,
        "name": "n",
        "password": "p",
        "items": [{"id": 1, "v": 2}],
        "meta": {"created": "x"},
    }
    assert from_schema({**schema, "example": example}) == {
        "name": "n",
        "password": "p",
        "items": [{"v": 2}],
        "meta": {},
    }
    # a readOnly value in a request is a validation error
    assert errors({"id": 1}, {"properties": {"id": ident}}) == [
        "/id: a readOnly value is present in a request"
    ]


def test_dialects() -> None:
    nullable = {"type": "string", "nullable": True}
    assert errors(None, nullable, dialect="3.0") == []
    assert errors(None, nullable, dialect="3.1") != []  # not a 3.1 keyword
    bounded = {"type": "integer", "minimum": 5, "exclusiveMinimum": True}
    assert errors(5, bounded, dialect="3.0") != [] and errors(6, bounded, dialect="3.0") == []
    assert errors(5, bounded, dialect="any") != []
    assert errors(5, {"exclusiveMinimum": 5}, dialect="3.1") != []
    assert errors(2**31, {"type": "integer", "format": "int32"}) != []


def test_ecma_patterns() -> None:
    assert to_python(r"^[\w-.]+$") == r"^[\w\-.]+$"
    assert sample(r"^[\w-./:]+$") == "a"
    assert sample(r"^[a-z]+$", 5) == "aaaaa"
    assert sample(r"^(?<pre>ab)+$", 6) == "ababab"
    assert errors("a b", {"type": "string", "pattern": r"^[\w-.]+$"}) != []
