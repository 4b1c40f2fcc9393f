"""Which operations ``plog run`` load-tests.

``changed`` (the default): operations added or modified since the base;
``all``: every operation of the head spec; or an explicit tuple of
``"METHOD /path"`` matched by ``openapi.names`` (parameter names may differ:
``GET /pets/{id}`` matches ``GET /pets/{petId}``). Removed operations are
reported, never load-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from plog_ci.errors import InputError
from plog_ci.openapi.diff import SpecDiff
from plog_ci.openapi.model import Operation, Spec
from plog_ci.openapi.names import find_operation, split_name


@dataclass(frozen=True)
class Selection:
    operations: list[Operation] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _parse_key(text: str) -> str:
    parts = split_name(text)
    if parts is None:
        raise InputError(
            f"operation {text!r} is not written 'METHOD /path'",
            hint="for example: 'GET /pets/{id}'",
        )
    return f"{parts[0]} {parts[1]}"


def select_operations(
    diff: SpecDiff | None, head: Spec, selector: str | tuple[str, ...]
) -> Selection:
    removed = list(diff.removed) if diff is not None else []
    if isinstance(selector, str):
        if selector == "all" or (selector == "changed" and diff is None):
            return Selection(list(head.operations.values()), removed)
        if selector != "changed":
            raise InputError(
                f"operation selector {selector!r} is not known",
                hint="use 'changed', 'all' or a list of 'METHOD /path'",
            )
        assert diff is not None
        keys = set(diff.added) | set(diff.modified)
        return Selection([op for op in head.operations.values() if op.key in keys], removed)
    chosen: list[Operation] = []
    unknown: list[str] = []
    for text in selector:
        op = find_operation(head, _parse_key(text))
        if op is None:
            unknown.append(text)
        elif op not in chosen:
            chosen.append(op)
    return Selection(chosen, removed, unknown)
