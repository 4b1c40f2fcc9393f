"""Fold ``allOf`` into one schema, so one value can be generated for all its parts.

JSON Schema 2020-12, section 10.2.1.1: an instance is valid against ``allOf``
when it is valid against every part; keywords beside ``allOf`` apply too (the
loader turns OpenAPI 3.1 ``$ref`` siblings into ``{"allOf": [target], ...}``).
The fold is a generation aid, not a proof: the generated value is validated
against the original schema afterwards.

Rules: ``type`` intersects (``integer`` within ``number``); ``properties``
unite (a name in two parts gets ``allOf`` of both); ``required`` unites; lower
bounds take the highest, upper bounds the lowest; ``enum`` intersects;
``readOnly``/``writeOnly`` hold if any part says so; ``nullable`` only if every
part allows null; other keywords: the outer schema's, else the first part's.
A part the fold cannot take (a second ``pattern``, ``oneOf``, a recursion
marker) stays in a remaining ``allOf``.
"""

from __future__ import annotations

from typing import Any

from plog_ci.loadgen.numbers import exact

_LOWER = ("minimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER = ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_ONE_ONLY = ("pattern", "oneOf", "anyOf", "not", "if", "const", "multipleOf", "contains")


def _types(schema: dict[str, Any]) -> list[str] | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return None


def _normal_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """3.0 boolean exclusive bounds rewritten as 3.1 numbers (same meaning)."""
    out = dict(schema)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(flag) is True and exact(out.get(bound)) is not None:
            out[flag] = out.pop(bound)
        elif isinstance(out.get(flag), bool):
            out.pop(flag)
    if out.get("nullable") is True or out.get("x-nullable") is True:
        out["nullable"] = True
    return out


def _merge_types(a: list[str] | None, b: list[str] | None) -> list[str] | None:
    if a is None or b is None:
        return a if b is None else b
    out = [t for t in a if t in b]
    if "integer" in a and "number" in b and "integer" not in out:
        out.append("integer")
    if "integer" in b and "number" in a and "integer" not in out:
        out.append("integer")
    return out


def _combine(into: dict[str, Any], part: dict[str, Any], rest: list[Any]) -> None:
    part = _normal_bounds(part)
    leftover: dict[str, Any] = {}
    for key, value in part.items():
        if key in ("allOf", "nullable"):
            continue
        if key == "type":
            merged = _merge_types(_types(into), _types(part))
            if merged is not None:
                into["type"] = merged[0] if len(merged) == 1 else merged
        elif key == "properties" and isinstance(value, dict):
            props = dict(into.get("properties") or {})
            for name, sub in value.items():
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            into["properties"] = props
        elif key == "required" and isinstance(value, list):
            have = list(into.get("required") or [])
            into["required"] = have + [n for n in value if n not in have]
        elif key in ("minimum", "exclusiveMinimum", *_LOWER):
            a, b = exact(into.get(key)), exact(value)
            into[key] = value if a is None or (b is not None and b > a) else into[key]
        elif key in ("maximum", "exclusiveMaximum", *_UPPER):
            a, b = exact(into.get(key)), exact(value)
            into[key] = value if a is None or (b is not None and b < a) else into[key]
        elif key == "enum" and isinstance(value, list) and isinstance(into.get("enum"), list):
            into["enum"] = [v for v in into["enum"] if v in value]
        elif key in ("readOnly", "writeOnly"):
            into[key] = bool(into.get(key)) or value is True
        elif key in ("items", "additionalProperties") and isinstance(into.get(key), dict):
            if isinstance(value, dict):
                into[key] = {"allOf": [into[key], value]}
            elif value is False:
                into[key] = False
        elif key in _ONE_ONLY and key in into and into[key] != value:
            leftover[key] = value
        elif key not in into:
            into[key] = value
    if leftover:
        rest.append(leftover)


def fold_all_of(schema: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """``schema`` with its ``allOf`` parts (nested ones too) folded in; see the module doc."""
    if not isinstance(schema.get("allOf"), list) or depth > 16:
        return schema
    parts: list[Any] = []
    stack = list(reversed(schema["allOf"]))
    while stack:
        part = stack.pop()
        if isinstance(part, dict) and isinstance(part.get("allOf"), list) and depth < 16:
            outer = {k: v for k, v in part.items() if k != "allOf"}
            stack.extend(reversed([*part["allOf"], outer]))
        else:
            parts.append(part)
    own = {k: v for k, v in schema.items() if k != "allOf"}
    out: dict[str, Any] = _normal_bounds(own)
    nullable = own.get("nullable") is True or own.get("x-nullable") is True
    rest: list[Any] = []
    for part in parts:
        if part is True or part == {}:
            continue
        if not isinstance(part, dict) or part.get("x-plog-recursive"):
            rest.append(part)
            continue
        nullable = nullable and (part.get("nullable") is True or part.get("x-nullable") is True)
        _combine(out, part, rest)
    out.pop("nullable", None)
    out.pop("x-nullable", None)
    if nullable:
        out["nullable"] = True
    if rest:
        out["allOf"] = rest
    return out
