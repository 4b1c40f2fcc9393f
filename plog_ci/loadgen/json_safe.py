"""Spec values JSON cannot carry (YAML ``.inf``, ``-.inf``, ``.nan``), replaced from the schema.

RFC 8259 section 6: "Numeric values that cannot be represented ... (such as
Infinity and NaN) are not permitted". A YAML example or default may hold them
(YAML 1.1/1.2 core schema ``.inf``/``.nan``). Each such number inside a value is
replaced by one generated from the schema at its place; the rest of the value
is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from plog_ci.loadgen.schema_merge import fold_all_of
from plog_ci.loadgen.validity import non_finite


def yaml_text(value: Any) -> str:
    """``value`` as the spec author wrote it (``.inf``, ``-.inf``, ``.nan``) or as JSON."""
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    if isinstance(value, float) and math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return shown(value)


def shown(value: Any) -> str:
    """Short JSON text of ``value`` for a message (60 characters at most)."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _sub_schema(schema: Any, parts: list[str]) -> Any:
    """The schema that applies at ``parts`` inside a value of ``schema`` (``{}``: unknown)."""
    for part in parts:
        if not isinstance(schema, dict):
            return {}
        schema = fold_all_of(schema)
        props = schema.get("properties")
        prefix = schema.get("prefixItems")
        if isinstance(props, dict) and part in props:
            schema = props[part]
        elif part.isdigit() and isinstance(prefix, list) and int(part) < len(prefix):
            schema = prefix[int(part)]
        elif isinstance(schema.get("items"), dict) and part.isdigit():
            schema = schema["items"]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return {}
    return schema if isinstance(schema, dict) else {}


def repair(
    value: Any, schema: Any, generate: Callable[[Any], Any]
) -> tuple[Any, list[tuple[str, Any, Any]]]:
    """``value`` with each non-finite number replaced by ``generate(sub_schema)``.

    Returns the repaired value and ``(pointer, bad number, replacement)`` per
    replacement. A non-finite value at the top is replaced whole.
    """
    done: list[tuple[str, Any, Any]] = []
    for _ in range(1000):
        where = non_finite(value)
        if where is None:
            break
        if not where:
            new = generate(schema)
            done.append(("", value, new))
            return new, done
        parts = _parts(where)
        node = value = _copy(value)
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
        bad = node[last]
        node[last] = generate(_sub_schema(schema, parts))
        if non_finite(node[last]) is not None:
            node[last] = 0
        done.append((where, bad, node[last]))
    return value, done


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
