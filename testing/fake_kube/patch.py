"""PATCH bodies applied the way the API server does, in a simple, correct-enough form.

- ``application/merge-patch+json``: RFC 7386 (null deletes, objects merge, lists replace).
- ``application/strategic-merge-patch+json``: as merge-patch, except lists of objects
  that all carry a merge key (``name``, ``containerPort``, ``port``, ``type``, ...) merge
  element by element; ``$patch: delete|replace`` and ``$setElementOrder/``/``$retainKeys``
  directives are honoured or dropped.
- ``application/json-patch+json``: RFC 6902 add, remove, replace, test.
- ``application/apply-patch+yaml`` (server-side apply): the applied configuration replaces
  what it names; fields it leaves out keep their value only under ``status`` and the
  server-set metadata (one field manager is assumed).
"""

from __future__ import annotations

import copy
from typing import Any

MERGE_KEYS = ("name", "containerPort", "port", "type", "mountPath", "ip", "topologyKey")


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    return next((k for k in MERGE_KEYS if all(k in i for i in items)), None)


def strategic_merge(target: Any, patch: Any) -> Any:
    if isinstance(patch, list):
        key = _merge_key(patch)
        if key is None or not isinstance(target, list) or _merge_key(target) != key:
            return [strategic_merge(None, p) for p in patch if _directive(p) != "delete"]
        merged = list(target)
        for item in patch:
            index = next((i for i, t in enumerate(merged) if t.get(key) == item[key]), None)
            if _directive(item) == "delete":
                if index is not None:
                    merged.pop(index)
            elif index is None:
                merged.append(strategic_merge(None, item))
            else:
                merged[index] = strategic_merge(merged[index], item)
        return merged
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if not k.startswith("$")}
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder/..., $retainKeys, $patch: order and pruning hints
        if value is None:
            out.pop(key, None)
        else:
            out[key] = strategic_merge(out.get(key), value)
    return out


def _directive(item: Any) -> str | None:
    return item.get("$patch") if isinstance(item, dict) else None


class PatchError(ValueError):
    """A JSON patch that cannot be applied (bad pointer, failed test)."""


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(target: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "test"):
            raise PatchError(f"unsupported JSON patch operation {op!r}")
        *parents, last = _pointer(str(op.get("path", "")))
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.get(part)
            if node is None:
                raise PatchError(f"path {op['path']!r} does not exist")
        if op["op"] == "test":
            current = node[int(last)] if isinstance(node, list) else node.get(last)
            if current != op.get("value"):
                raise PatchError(f"test failed at {op['path']!r}")
        elif op["op"] == "remove":
            if isinstance(node, list):
                node.pop(int(last))
            elif node.pop(last, None) is None:
                raise PatchError(f"path {op['path']!r} does not exist")
        elif isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op["op"] == "add":
                node.insert(index, op.get("value"))
            else:
                node[index] = op.get("value")
        else:
            node[last] = op.get("value")
    return doc


SERVER_METADATA = ("uid", "creationTimestamp", "resourceVersion", "generation", "namespace")


def apply(existing: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply for one manager (see the module doc)."""
    out = copy.deepcopy(applied)
    meta = out.setdefault("metadata", {})
    for key in SERVER_METADATA:
        if key in existing.get("metadata", {}):
            meta[key] = existing["metadata"][key]
    if "status" in existing:
        out["status"] = copy.deepcopy(existing["status"])
    return out
