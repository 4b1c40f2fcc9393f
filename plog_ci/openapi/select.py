"""Which operations to load-test: changed (default), all, or an explicit list.

Walking-skeleton version: "changed" compares operations by their resolved
definitions; the full diff engine refines it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from plog_ci.openapi.model import Operation, Spec, operation_key


@dataclass
class SimpleDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    operations: list[Operation]
    removed: list[str]
    unknown: list[str]


def _fingerprint(op: Operation) -> str:
    data: dict[str, Any] = asdict(op)
    data.pop("path")
    return json.dumps(data, sort_keys=True, default=str)


def simple_diff(base: Spec, head: Spec) -> SimpleDiff:
    base_ops = {op.normalized_key: op for op in base.operations.values()}
    head_ops = {op.normalized_key: op for op in head.operations.values()}
    diff = SimpleDiff()
    for key, op in head_ops.items():
        if key not in base_ops:
            diff.added.append(op.key)
        elif _fingerprint(op) != _fingerprint(base_ops[key]):
            diff.modified.append(op.key)
    diff.removed = [op.key for key, op in base_ops.items() if key not in head_ops]
    return diff


def select_operations(diff: Any, head: Spec, selector: str | tuple[str, ...]) -> Selection:
    removed = list(getattr(diff, "removed", []) or [])
    if selector == "all" or (selector == "changed" and diff is None):
        return Selection(list(head.operations.values()), removed, [])
    if selector == "changed":
        wanted = set(diff.added) | set(diff.modified)
        return Selection([op for op in head.operations.values() if op.key in wanted], removed, [])
    chosen: list[Operation] = []
    unknown: list[str] = []
    for item in selector:
        method, _, path = item.strip().partition(" ")
        op = head.find(operation_key(method, path.strip()))
        if op is None:
            unknown.append(item)
        elif op not in chosen:
            chosen.append(op)
    return Selection(chosen, removed, unknown)
