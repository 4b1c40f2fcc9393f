"""Request values from the spec: examples first, then defaults, enums, and the schema.

Schema-driven values respect type, format, pattern, length and numeric bounds
(including exclusive bounds and multipleOf), required properties, allOf /
oneOf / anyOf, and skip ``readOnly`` properties in requests. Generation is
deterministic so one commit always produces the same script.
"""

from __future__ import annotations

import math
from typing import Any

from plog_ci.loadgen.pattern import sample as pattern_sample
from plog_ci.openapi.model import JsonSchema, MediaType, Parameter

FORMAT_SAMPLES: dict[str, str] = {
    "uuid": "00000000-0000-4000-8000-000000000001",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uri-reference": "/example",
    "iri": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
    "binary": "example",
    "password": "Example-password-1",
    "duration": "PT1M",
    "int32": "1",
    "int64": "1",
}
MAX_DEPTH = 8
MAX_ITEMS = 3


def _number(schema: JsonSchema, integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    ex_low = schema.get("exclusiveMinimum")
    ex_high = schema.get("exclusiveMaximum")
    step = 1.0 if integer else 0.5
    # OpenAPI 3.0 writes exclusive bounds as booleans next to minimum/maximum.
    if ex_low is True and isinstance(low, (int, float)):
        low = low + step
    elif isinstance(ex_low, (int, float)) and not isinstance(ex_low, bool):
        low = ex_low + step
    if ex_high is True and isinstance(high, (int, float)):
        high = high - step
    elif isinstance(ex_high, (int, float)) and not isinstance(ex_high, bool):
        high = ex_high - step
    value: float = 1.0
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        value = max(value, float(low)) if not isinstance(high, (int, float)) else float(low)
        value = max(value, float(low))
    if isinstance(high, (int, float)) and not isinstance(high, bool):
        value = min(value, float(high))
    multiple = schema.get("multipleOf")
    if isinstance(multiple, (int, float)) and multiple > 0 and not isinstance(multiple, bool):
        value = math.ceil(value / multiple) * multiple
        if isinstance(high, (int, float)) and value > high:
            value -= multiple
    if integer:
        return math.ceil(value)
    return float(value)


def _string(schema: JsonSchema) -> str:
    fmt = schema.get("format")
    text: str | None = None
    if isinstance(schema.get("pattern"), str):
        text = pattern_sample(schema["pattern"])
    if text is None and isinstance(fmt, str) and fmt in FORMAT_SAMPLES:
        text = FORMAT_SAMPLES[fmt]
    if text is None:
        text = "example"
    min_len = schema.get("minLength")
    max_len = schema.get("maxLength")
    if isinstance(min_len, int) and len(text) < min_len:
        filler = text[-1] if text else "x"
        text = text + filler * (min_len - len(text))
    if isinstance(max_len, int) and max_len >= 0 and len(text) > max_len:
        text = text[:max_len]
    return text


def _merge_all_of(parts: list[Any], depth: int, request: bool) -> Any:
    merged: dict[str, Any] = {}
    other: Any = None
    for part in parts:
        value = from_schema(part if isinstance(part, dict) else None, depth + 1, request)
        if isinstance(value, dict):
            merged.update(value)
        elif other is None:
            other = value
    return merged if merged or other is None else other


def from_schema(schema: JsonSchema | None, depth: int = 0, request: bool = True) -> Any:
    """A value that the schema accepts (deterministic: the first that fits)."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH or schema.get("x-plog-recursive"):
        return None if depth else "example"
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("allOf"), list):
        return _merge_all_of(schema["allOf"], depth, request)
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return from_schema(schema[key][0], depth + 1, request)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        count = schema.get("minItems", 1)
        count = min(max(int(count) if isinstance(count, int) else 1, 1), MAX_ITEMS)
        item = from_schema(schema.get("items"), depth + 1, request)
        if schema.get("uniqueItems") and count > 1:
            count = 1
        return [item] * count
    if kind == "object" or "properties" in schema:
        return _object(schema, depth, request)
    return _string(schema)


def _object(schema: JsonSchema, depth: int, request: bool) -> dict[str, Any]:
    raw_props = schema.get("properties")
    props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    required = schema.get("required")
    # Without a 'required' list, send every property: servers often want them.
    wanted = set(required) if isinstance(required, list) else set(props)
    out: dict[str, Any] = {}
    for name, sub in props.items():
        if name not in wanted or not isinstance(sub, dict):
            continue
        if request and sub.get("readOnly"):
            continue
        if not request and sub.get("writeOnly"):
            continue
        value = from_schema(sub, depth + 1, request)
        if value is None and sub.get("x-plog-recursive"):
            continue
        out[name] = value
    return out


def for_parameter(param: Parameter, *, warnings: list[str] | None = None) -> Any:
    """A value for ``param``; messages about the value (no operation key) go to ``warnings``."""
    if param.examples:
        return param.examples[0]
    return from_schema(param.schema)


def for_media(media: MediaType, *, warnings: list[str] | None = None) -> Any:
    """A body for ``media``; messages about the value (no operation key) go to ``warnings``."""
    if media.examples:
        return media.examples[0]
    return from_schema(media.schema)
