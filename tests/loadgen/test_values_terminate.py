"""Generated values where recursion must end and where a schema keyword is unusable.

Recursion: where a required value would recurse again, the branch of
``anyOf``/``oneOf``, the ``type`` array member or the 3.0 ``nullable`` that ends
it is chosen (the smallest valid instance), and the value validates against the
whole document. Keywords: a numeric keyword whose value is not a number (YAML 1.1
reads ``1e400`` as a string) is named in a warning and ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plog_ci.loadgen.validity import dialect_of, errors
from plog_ci.loadgen.values import for_media, for_parameter, from_schema
from plog_ci.openapi.load import load_spec_file

HEAD = """\
openapi: {version}
info: {{title: t, version: "1"}}
paths:
  /nodes:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {{$ref: "#/components/schemas/Node"}}
      responses: {{"201": {{description: ok}}}}
components:
  schemas:
    Node:
"""
# The spec: parent is anyOf [Node, null].
ANY_OF = """\
      type: object
      required: [name, children, parent]
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
        parent:
          anyOf:
            - $ref: "#/components/schemas/Node"
            - type: "null"
"""
ONE_OF_LEAF = """\
      type: object
      required: [name, parent]
      properties:
        name: {type: string}
        parent:
          oneOf:
            - $ref: "#/components/schemas/Node"
            - {type: object, required: [root], properties: {root: {const: true}}}
"""
TYPE_ARRAY = """\
      type: [object, "null"]
      required: [name, parent]
      properties:
        name: {type: string}
        parent: {$ref: "#/components/schemas/Node"}
"""
NULLABLE_30 = """\
      type: object
      required: [name, children, parent]
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
        parent:
          nullable: true
          allOf:
            - $ref: "#/components/schemas/Node"
"""
NULLABLE_TYPE_30 = """\
      type: object
      nullable: true
      required: [name, parent]
      properties:
        name: {type: string}
        parent: {$ref: "#/components/schemas/Node"}
"""


def _generate(tmp_path: Path, version: str, node: str) -> tuple[Any, list[str], list[str]]:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD.format(version=version) + node)
    spec = load_spec_file(path)
    body = spec.operations["POST /nodes"].request_body
    assert body is not None
    media = body.content["application/json"]
    notes: list[str] = []
    value = for_media(media, warnings=notes)  # as plog gen calls it: no document root
    problems = errors(value, media.schema, dialect=dialect_of(spec.version), root=spec.raw)
    return value, notes, problems


@pytest.mark.parametrize(
    ("version", "node", "want"),
    [
        ("3.1.0", ANY_OF, {"name": "example", "children": [], "parent": None}),
        ("3.1.0", ONE_OF_LEAF, {"name": "example", "parent": {"root": True}}),
        ("3.1.0", TYPE_ARRAY, {"name": "example", "parent": None}),
        ("3.0.3", NULLABLE_30, {"name": "example", "children": [], "parent": None}),
        ("3.0.3", NULLABLE_TYPE_30, {"name": "example", "parent": None}),
    ],
    ids=["anyOf-null", "oneOf-leaf", "type-array", "nullable-allOf-3.0", "nullable-type-3.0"],
)
def test_recursion_ends_in_the_branch_that_terminates(
    tmp_path: Path, version: str, node: str, want: Any
) -> None:
    value, notes, problems = _generate(tmp_path, version, node)
    assert value == want
    assert notes == []
    assert problems == []


@pytest.mark.parametrize(
    ("keyword", "raw", "kind"),
    [
        ("minimum", "1e400", "number"),
        ("maximum", "1e400", "number"),
        ("exclusiveMinimum", "1e400", "number"),
        ("exclusiveMaximum", "1e400", "number"),
        ("multipleOf", "1e400", "number"),
        ("multipleOf", 0, "number"),
        ("multipleOf", 0.0, "number"),
        ("minimum", True, "number"),
        ("minLength", "1e400", "count"),
        ("maxLength", "1e400", "count"),
        ("minItems", "2", "count"),
        ("maxItems", "2", "count"),
        ("minProperties", "1e400", "count"),
        ("maxProperties", "1e400", "count"),
    ],
)
def test_a_numeric_keyword_that_is_not_a_number_is_named_and_ignored(
    keyword: str, raw: Any, kind: str
) -> None:
    counted: dict[str, dict[str, Any]] = {
        "minLength": {"type": "string"},
        "maxLength": {"type": "string"},
        "minItems": {"type": "array", "items": {"type": "integer"}},
        "maxItems": {"type": "array", "items": {"type": "integer"}},
        "minProperties": {"type": "object"},
        "maxProperties": {"type": "object"},
    }
    base = {"type": "number"} if kind == "number" else counted[keyword]
    schema = {**base, keyword: raw}
    notes: list[str] = []
    value = from_schema(schema, warnings=notes)
    want = "a number > 0" if raw == 0 else "a number" if kind == "number" else "an integer ≥ 0"
    assert notes == [f"{keyword} {raw!r} is not {want}; ignored"]
    assert errors(value, schema) == []


def test_yaml_1e400_minimum_in_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "openapi: 3.0.3\n"
        "info: {title: t, version: '1'}\n"
        "paths:\n"
        "  /items:\n"
        "    get:\n"
        "      parameters:\n"
        "        - {name: n, in: query, required: true,"
        " schema: {type: number, minimum: 1e400, maximum: 10}}\n"
        "      responses: {'200': {description: ok}}\n"
    )
    spec = load_spec_file(path)
    (param,) = spec.operations["GET /items"].parameters
    notes: list[str] = []
    value = for_parameter(param, warnings=notes)
    assert notes == ["minimum '1e400' is not a number; ignored"]
    assert value == 1.0
    assert errors(value, param.schema) == []
