"""``id_check``: what a path parameter asks of an id a producer returned (for the script
to keep ids that fit and fall back to the generated value otherwise). Found by the
Prism bench: the example's ``POST /pets`` mock answers ``id: -9007199254740991`` and
``GET /pets/{petId}`` (``minimum: 1, maximum: 500``) sent it."""

from __future__ import annotations

from typing import Any

import pytest

from plog_ci.loadgen.validity import id_check
from testing.paths import EXAMPLE
from testing.specs import load_any_spec


def test_the_example_services_pet_id() -> None:
    op = load_any_spec(EXAMPLE / "openapi.yaml").operations["GET /pets/{petId}"]
    (param,) = [p for p in op.parameters if p.name == "petId"]
    assert id_check(param.schema) == {"type": "integer", "minimum": 1, "maximum": 500}


@pytest.mark.parametrize(
    ("schema", "check"),
    [
        (None, {}),
        ({}, {}),
        (
            {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
            {"type": "integer", "exclusiveMinimum": 1},
        ),
        (
            {"type": "number", "maximum": 9, "exclusiveMaximum": False},
            {"type": "number", "maximum": 9},
        ),
        ({"type": "integer", "exclusiveMinimum": 0}, {"type": "integer", "exclusiveMinimum": 0}),
        (
            {
                "type": ["string", "null"],
                "pattern": "^CA[0-9a-f]{32}$",
                "minLength": 34,
                "maxLength": 34,
            },
            {"type": "string", "minLength": 34, "maxLength": 34, "pattern": "^CA[0-9a-f]{32}$"},
        ),
        ({"type": "integer", "minimum": "1e400", "maxLength": -1}, {"type": "integer"}),  # unusable
        ({"type": "string", "pattern": "(?<!x"}, {"type": "string"}),  # no usable pattern
        ({"enum": ["a", 1, None, {}]}, {"enum": ["a", 1]}),
        ({"type": "boolean"}, {}),
    ],
)
def test_shapes(schema: Any, check: dict[str, Any]) -> None:
    assert id_check(schema) == check
