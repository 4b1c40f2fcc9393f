"""Label and field selectors as the API server parses them (the common subset).

Labels: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``,
comma-separated (all must hold). Fields: ``path=value``, ``path==value``, ``path!=value``
over the fields the server supports for that resource (``FIELDS``); any other field is
refused, as the real server refuses it (400 "field label not supported").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_COMMON = ("metadata.name", "metadata.namespace")
FIELDS: dict[str, tuple[str, ...]] = {
    "v1/events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "v1/pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "v1/namespaces": ("status.phase",),
    "v1/secrets": ("type",),
}


class SelectorError(ValueError):
    """The selector does not parse, or names a field the resource cannot be selected by."""


def _split(text: str) -> list[str]:
    # commas inside "in (a,b)" do not separate requirements
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


_SET = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQ = re.compile(r"^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$")
_EXISTS = re.compile(r"^(!?)([\w./-]+)$")


def label_selector(text: str) -> Predicate:
    """A predicate on objects from ``labelSelector`` text; raises SelectorError."""
    checks: list[tuple[str, str, frozenset[str]]] = []  # (key, operator, values)
    for part in _split(text):
        if found := _SET.match(part):
            values = frozenset(v.strip() for v in found[3].split(","))
            checks.append((found[1], found[2], values))
        elif found := _EQ.match(part):
            checks.append((found[1], "notin" if found[2] == "!=" else "in", frozenset([found[3]])))
        elif found := _EXISTS.match(part):
            checks.append((found[2], "!" if found[1] else "exists", frozenset()))
        else:
            raise SelectorError(f"unable to parse requirement: {part!r}")

    def holds(labels: dict[str, str], key: str, op: str, values: frozenset[str]) -> bool:
        if op == "exists":
            return key in labels
        if op == "!":
            return key not in labels
        return (labels.get(key) in values) == (op == "in")

    def predicate(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(holds(labels, *check) for check in checks)

    return predicate


def _lookup(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if path == "source" and node is None:
        node = (obj.get("source") or {}).get("component")
    if isinstance(node, dict):
        node = node.get("component")
    if isinstance(node, bool):
        return "true" if node else "false"
    return "" if node is None else str(node)


def field_selector(text: str, resource_key: str) -> Predicate:
    """A predicate on objects from ``fieldSelector`` text; raises SelectorError."""
    allowed = _COMMON + FIELDS.get(resource_key, ())
    checks: list[tuple[str, bool, str]] = []
    for part in _split(text):
        found = _EQ.match(part)
        if not found:
            raise SelectorError(f"invalid field selector: {part!r}")
        if found[1] not in allowed:
            raise SelectorError(f'field label not supported: "{found[1]}"')
        checks.append((found[1], found[2] == "!=", found[3]))

    def predicate(obj: dict[str, Any]) -> bool:
        return all((_lookup(obj, path) == value) != negate for path, negate, value in checks)

    return predicate
