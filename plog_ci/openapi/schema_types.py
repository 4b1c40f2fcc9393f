"""What a schema admits, read from its keywords: types, null, enum values, formats.

Pure functions on one resolved schema (dicts), shared by the diff's keyword rules
(``plog_ci.openapi.schema_keywords``). OpenAPI 3.0 and 3.1 are read alike where
they mean the same: 3.0's ``nullable: true`` and 3.1's ``"null"`` in ``type``;
a schema that constrains no type admits every type and ``null`` (JSON Schema
2020-12 section 4.3.2: ``{}`` is the "true" schema).
"""

from __future__ import annotations

import json
from typing import Any

from plog_ci.openapi import schema_bounds

MAX_DEPTH = 32


# Keywords that only constrain one type: a schema that writes them but no ``type``
# means that type in practice (OpenAPI 3.0 specs often leave out ``type: object``).
_IMPLIED = (
    ("object", ("properties", "additionalProperties", "patternProperties", "required")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")),
    ("string", ("pattern", "minLength", "maxLength")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
)


def types(schema: dict[str, Any]) -> tuple[str, ...]:
    """The non-null types a schema admits; () when it admits any type."""
    t = schema.get("type")
    if isinstance(t, str):
        return (t,)
    if isinstance(t, list):
        return tuple(str(x) for x in t if x != "null")
    return tuple(kind for kind, keys in _IMPLIED if any(k in schema for k in keys))


def nullable(schema: dict[str, Any]) -> bool:
    """Whether ``null`` is valid: 3.0 ``nullable: true``, 3.1 ``"null"`` in ``type``, or
    a schema that constrains no type at all (JSON Schema: ``{}`` accepts ``null``)."""
    t = schema.get("type")
    if bool(schema.get("nullable")) or (isinstance(t, list) and "null" in t):
        return True
    if "enum" in schema or "const" in schema:
        values = schema["enum"] if isinstance(schema.get("enum"), list) else [schema.get("const")]
        return None in values
    return t is None and not types(schema)


def flatten(schema: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Fold ``allOf`` members into one schema (properties and required merged)."""
    members = schema.get("allOf")
    if not isinstance(members, list) or depth > MAX_DEPTH:
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    props = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for member in members:
        if not isinstance(member, dict):
            continue
        flat = flatten(member, depth + 1)
        props.update(flat.get("properties") or {})
        required.extend(r for r in flat.get("required") or [] if r not in required)
        for key, value in flat.items():
            if key not in ("properties", "required"):
                out.setdefault(key, value)
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    return out


def enum_values(schema: dict[str, Any]) -> list[Any] | None:
    """The allowed values: ``enum``, or 3.1's ``const`` as a one-value enum."""
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    return [schema["const"]] if "const" in schema else None


def canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def json_like(media_type: str) -> bool:
    mt = media_type.split(";")[0].strip().lower()
    return mt in ("*/*", "application/*") or mt.endswith(("/json", "+json"))


BOUNDS = (
    # key, id stem, tighter when the head value is ... (numeric bounds: schema_bounds)
    ("maxLength", "max-length", "lower"),
    ("minLength", "min-length", "higher"),
    ("maxItems", "max-items", "lower"),
    ("minItems", "min-items", "higher"),
)
SET_IDS = {"max", "min", "max-length"}  # "<stem>-set" ids that oasdiff has (warning)


def num(value: Any) -> int | float | None:
    # As written: ints stay ints, so bounds above 2**53 compare exactly.
    return schema_bounds.number(value)


def type_breaks_request(base: tuple[str, ...], head: tuple[str, ...], lenient: bool) -> bool:
    """Whether a request value valid for ``base`` may be rejected by ``head`` (``()``:
    any type, so any type → one type narrows, and one type → any widens)."""
    if not head:
        return False
    if not base:
        return not lenient
    if set(base) <= set(head):
        return False
    if set(base) <= {"integer"} and "number" in head and base:
        return False
    return not (lenient and "string" in head)


def type_breaks_response(base: tuple[str, ...], head: tuple[str, ...]) -> bool:
    """Whether a response a client handled for ``base`` may now fall outside it."""
    if not base or (set(head) <= set(base) and head):
        return False
    return not (set(head) <= {"integer"} and "number" in base and head)


_FORMAT_WIDER = {("integer", "int32", "int64"), ("number", "float", "double")}


def format_narrows(kind: str, old: Any, new: Any) -> bool:
    """Whether format ``new`` rejects values that ``old`` allowed (None: any format)."""
    if old == new or new is None:
        return False
    return (kind, old, new) not in _FORMAT_WIDER
