"""Whether a schema's values must recurse: which branch, type or ``null`` ends a recursion.

Used by :mod:`plog_ci.loadgen.values` to choose, where a required value would
enter a recursive reference again, the ``anyOf``/``oneOf`` branch, ``type``
array member or ``nullable`` that ends it (the smallest instance). Recursion is
the loader's ``x-plog-recursive`` markers or a schema already being generated
(a real cycle of dicts). Keywords read: JSON Schema 2020-12 core 10.2.1
(``allOf``/``anyOf``/``oneOf``), validation 6.1.1 (``type``), 6.4.2 (``minItems``),
6.5.3 (``required``); OpenAPI 3.0.3 ``nullable``, Swagger 2.0 ``x-nullable``.
"""

from __future__ import annotations

from typing import Any

from plog_ci.loadgen.schema_merge import fold_all_of
from plog_ci.loadgen.value_shapes import Ctx, hidden


def is_marker(schema: Any, ctx: Ctx) -> bool:
    """Whether ``schema`` is a recursion marker or a schema already being generated."""
    if not isinstance(schema, dict):
        return False
    return bool(schema.get("x-plog-recursive")) or any(s is schema for s in ctx.stack)


def nullable(eff: dict[str, Any]) -> bool:
    """``nullable`` (3.0) / ``x-nullable`` (Swagger 2.0) is true."""
    return eff.get("nullable") is True or eff.get("x-nullable") is True


def must_recurse(schema: Any, ctx: Ctx, depth: int = 0, path: frozenset[int] = frozenset()) -> bool:
    """Whether every instance of ``schema`` needs a recursive reference entered again.

    True for a marker, a schema being generated or one met again below itself
    (a cycle); for ``allOf`` when a part must; ``anyOf``/``oneOf`` when every
    branch must; an object when a required property must; an array when its
    required items must. False where a branch, ``null`` (a ``type`` member,
    ``nullable``), ``enum``/``const`` or a scalar type ends it, and beyond depth 12.
    """
    if not isinstance(schema, dict) or depth > 12:
        return False
    if is_marker(schema, ctx) or id(schema) in path:
        return True
    path = path | {id(schema)}
    eff = fold_all_of(schema) if "allOf" in schema else schema
    if "const" in eff or "enum" in eff or nullable(eff):
        return False
    parts = eff.get("allOf")
    if isinstance(parts, list) and any(must_recurse(p, ctx, depth + 1, path) for p in parts):
        return True
    for key in ("oneOf", "anyOf"):
        branches = eff.get(key)
        if isinstance(branches, list) and branches:
            if all(must_recurse(b, ctx, depth + 1, path) for b in branches):
                return True
    return all(_kind_recurses(kind, eff, ctx, depth, path) for kind in kinds(eff))


def _kind_recurses(
    kind: str, eff: dict[str, Any], ctx: Ctx, depth: int, path: frozenset[int]
) -> bool:
    if kind == "object":
        raw_props = eff.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        raw_required = eff.get("required")
        required: list[Any] = raw_required if isinstance(raw_required, list) else []
        flag = "readOnly" if ctx.request else "writeOnly"
        return any(
            isinstance(name, str)
            and not hidden(props.get(name), flag)
            and must_recurse(props.get(name), ctx, depth + 1, path)
            for name in required
        )
    if kind == "array":
        low = eff.get("minItems")
        if not isinstance(low, int) or isinstance(low, bool) or low <= 0:
            return False
        raw_prefix = eff.get("prefixItems")
        prefix: list[Any] = raw_prefix if isinstance(raw_prefix, list) else []
        if any(must_recurse(p, ctx, depth + 1, path) for p in prefix[:low]):
            return True
        return low > len(prefix) and must_recurse(eff.get("items"), ctx, depth + 1, path)
    return False


def kinds(eff: dict[str, Any]) -> list[str]:
    """The JSON types to try for ``eff``, in order (``null`` last; guessed from keywords)."""
    kind = eff.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list) and kind:
        named = [k for k in kind if isinstance(k, str)]
        return [k for k in named if k != "null"] + [k for k in named if k == "null"]
    if any(k in eff for k in ("properties", "required", "additionalProperties", "minProperties")):
        return ["object"]
    if any(k in eff for k in ("items", "prefixItems", "minItems", "contains")):
        return ["array"]
    if any(k in eff for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
        return ["number"]
    return ["string"]
