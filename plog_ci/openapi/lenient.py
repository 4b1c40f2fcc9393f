"""Common mistakes in real specs, read the way a lenient client reads them, and said.

Specs that nobody validated carry constructs that are not OpenAPI but whose
meaning is plain: ``type: int`` (an integer), a path template ``/items/{id}``
whose operation never declares ``id``, a parameter with no type at all. Taken
literally they became the string ``"example"`` or an empty path segment, and the
requests failed in silence (issue 17, item 7). Here each is read as a client
generator would (OpenAPI Generator and Swagger Codegen map these aliases the
same way), and every such reading is a warning that names the operation, which
``plog gen`` and ``plog run`` print.
"""

from __future__ import annotations

import re
from typing import Any

from plog_ci.openapi.model import Parameter

VALID_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
# Type names from programming languages, as specs written by hand use them.
TYPE_ALIASES = {
    "int": "integer",
    "int32": "integer",
    "int64": "integer",
    "long": "integer",
    "short": "integer",
    "float": "number",
    "double": "number",
    "decimal": "number",
    "str": "string",
    "text": "string",
    "date": "string",
    "datetime": "string",
    "date-time": "string",
    "uuid": "string",
    "bool": "boolean",
    "dict": "object",
    "map": "object",
    "list": "array",
}
_ALIAS_FORMATS = {
    "int32": "int32",
    "int64": "int64",
    "long": "int64",
    "float": "float",
    "double": "double",
    "date": "date",
    "datetime": "date-time",
    "date-time": "date-time",
    "uuid": "uuid",
}
# Keywords whose values are data or names, never schemas: not searched for types.
_NOT_SCHEMAS = frozenset(
    ("example", "examples", "default", "enum", "const", "required", "discriminator", "xml")
)
_PARAM = re.compile(r"\{([^{}/]+)\}")


def fix_types(schema: Any, seen: set[int]) -> list[str]:
    """Rewrite unknown ``type`` names in ``schema`` (in place, every object once: ``seen``
    holds ids already done) to what they plainly mean; an unknown name with no plain
    meaning is removed (any type). Returns one note per rewrite."""
    notes: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        kind = node.get("type")
        if isinstance(kind, str) and kind not in VALID_TYPES:
            alias = TYPE_ALIASES.get(kind.strip().lower())
            if alias is not None:
                node["type"] = alias
                fmt = _ALIAS_FORMATS.get(kind.strip().lower())
                if fmt is not None:
                    node.setdefault("format", fmt)
                notes.append(f"'type: {kind}' is not an OpenAPI type; read as {alias}")
            else:
                del node["type"]
                notes.append(f"'type: {kind}' is not an OpenAPI type; read as any type")
        stack.extend(v for k, v in node.items() if k not in _NOT_SCHEMAS)
    return notes


def undeclared_path_parameters(path: str, params: list[Parameter]) -> list[Parameter]:
    """The parameters ``path`` uses that the operation does not declare, as required
    string path parameters (what a client would send)."""
    declared = {p.name for p in params if p.location == "path"}
    return [
        Parameter(name, "path", True, {"type": "string"})
        for name in dict.fromkeys(_PARAM.findall(path))
        if name not in declared
    ]


def untyped(param: Parameter) -> bool:
    """A parameter that says nothing of its values (no schema, or a schema with no type
    or other constraint): it is sent as a string."""
    schema = param.schema or {}
    return not any(k in schema for k in _CONSTRAINING)


_CONSTRAINING = frozenset(
    ("type", "enum", "const", "allOf", "oneOf", "anyOf", "format", "pattern", "items")
)
