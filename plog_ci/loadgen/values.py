"""Request values from the spec: examples first, then defaults, enums, and the schema."""

from __future__ import annotations

import uuid
from typing import Any

from plog_ci.openapi.model import JsonSchema, MediaType, Parameter

_FORMAT_SAMPLES = {
    "uuid": str(uuid.UUID(int=1)),
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}


def from_schema(schema: JsonSchema | None, depth: int = 0) -> Any:
    """A value that the schema accepts (deterministic, the first that fits)."""
    if not schema or depth > 8:
        return "x"
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("allOf",):
        if isinstance(schema.get(key), list):
            merged: dict[str, Any] = {}
            for part in schema[key]:
                value = from_schema(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return from_schema(schema[key][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer" or kind == "number":
        low = schema.get("minimum", 1)
        value = max(low, 1) if "maximum" not in schema else min(max(low, 1), schema["maximum"])
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "array":
        return [from_schema(schema.get("items"), depth + 1)] * max(1, schema.get("minItems", 1))
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or props)
        return {
            name: from_schema(sub, depth + 1) for name, sub in props.items() if name in required
        }
    fmt = schema.get("format")
    if fmt in _FORMAT_SAMPLES:
        return _FORMAT_SAMPLES[fmt]
    text = "example"
    min_len = int(schema.get("minLength", 0))
    max_len = int(schema.get("maxLength", 64))
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    return text[:max_len]


def for_parameter(param: Parameter) -> Any:
    if param.examples:
        return param.examples[0]
    return from_schema(param.schema)


def for_media(media: MediaType) -> Any:
    if media.examples:
        return media.examples[0]
    return from_schema(media.schema)
