import re

import pytest

from plog_ci.loadgen.pattern import sample
from plog_ci.loadgen.values import FORMAT_SAMPLES, from_schema


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z]{3,8}$",
        r"^\d{4}-\d{2}-\d{2}$",
        r"^(foo|bar)+[0-9]*$",
        r"^[A-Z]{2}[0-9]{9}$",
        r"^\w+@\w+\.com$",
        r"[^x]y",
    ],
)
def test_pattern_samples_match(pattern):
    text = sample(pattern)
    assert text is not None and re.search(pattern, text)


def test_pattern_gives_up_on_lookarounds_and_bad_regex():
    assert sample(r"(?=x)y") is None
    assert sample(r"([") is None
    assert sample(r"a{100000}") is None  # longer than the cap


@pytest.mark.parametrize("fmt", ["uuid", "date-time", "email", "uri", "date", "ipv4"])
def test_formats(fmt):
    assert from_schema({"type": "string", "format": fmt}) == FORMAT_SAMPLES[fmt]


def test_pattern_wins_over_format_and_lengths_hold():
    value = from_schema({"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3})
    assert value == "AAA"
    assert len(from_schema({"type": "string", "minLength": 12})) == 12
    assert from_schema({"type": "string", "maxLength": 2}) == "ex"


def test_numbers_respect_bounds():
    assert from_schema({"type": "integer", "minimum": 5, "maximum": 9}) == 5
    assert from_schema({"type": "integer", "maximum": 0}) == 0
    assert from_schema({"type": "integer", "minimum": 10, "exclusiveMinimum": True}) == 11
    assert from_schema({"type": "integer", "exclusiveMinimum": 10}) == 11  # 3.1 spelling
    assert from_schema({"type": "integer", "minimum": 7, "multipleOf": 5}) == 10
    value = from_schema({"type": "number", "minimum": 0.25, "maximum": 0.5})
    assert 0.25 <= value <= 0.5


def test_examples_defaults_and_enums_come_first():
    assert from_schema({"type": "integer", "example": 42, "default": 1}) == 42
    assert from_schema({"type": "integer", "default": 3}) == 3
    assert from_schema({"type": "string", "enum": [None, "b"]}) == "b"
    assert from_schema({"type": "string", "examples": ["x1"]}) == "x1"


def test_objects_required_readonly_and_composition():
    schema = {
        "type": "object",
        "required": ["name", "id", "tags"],
        "properties": {
            "name": {"type": "string"},
            "id": {"type": "integer", "readOnly": True},
            "tags": {"type": "array", "items": {"type": "string", "format": "email"}},
            "optional": {"type": "string"},
        },
    }
    assert from_schema(schema) == {"name": "example", "tags": ["user@example.com"]}
    # allOf folds into one schema: its required list makes 'x' optional, so it stays out.
    merged = from_schema({"allOf": [schema, {"properties": {"x": {"type": "boolean"}}}]})
    assert merged == {"name": "example", "tags": ["user@example.com"]}
    merged = from_schema({"allOf": [schema, {"required": ["x"], "properties": {"x": {}}}]})
    assert merged["x"] == "example" and merged["name"] == "example"
    assert from_schema({"oneOf": [{"type": "integer"}, {"type": "string"}]}) == 1


def test_recursion_is_bounded():
    node: dict = {"type": "object", "properties": {}}
    node["properties"]["child"] = node  # a cycle, as a hostile loader could hand over
    value = from_schema(node)
    depth = 0
    while isinstance(value, dict) and "child" in value:
        value = value["child"]
        depth += 1
    assert depth <= 10
