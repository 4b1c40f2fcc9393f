"""Diff two specs: operations added / removed / modified, and a list of changes.

Operations are matched on ``METHOD /path`` with path parameter names ignored
(``/pets/{id}`` and ``/pets/{petId}`` are one operation, as in oasdiff). Keys
in the result use the head spelling for added and modified operations (what
exists now and can be load-tested) and the base spelling for removed ones.

Everything is compared on the *resolved* operation, so a change inside a
shared component schema marks every operation that uses it as modified.

JSON shape (stable; see docs/openapi.md)::

    {"operations": {"added": [...], "removed": [...], "modified": [...]},
     "changes": [{"id", "level", "operation", "message", "source"}],
     "breaking": bool}

The reviewer's markdown of a :class:`SpecDiff` is
:func:`plog_ci.openapi.changelog.render`; this module does not import it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from plog_ci.openapi import operation_rules, schema_rules
from plog_ci.openapi.changes import ERROR, INFO, LEVEL_RANK, Change, Emitter, esc
from plog_ci.openapi.fingerprint import memo, same
from plog_ci.openapi.model import Operation, Parameter, Spec, normalize_path

__all__ = ["Change", "SpecDiff", "diff_specs"]


@dataclass
class SpecDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    base_source: str = ""
    head_source: str = ""

    @property
    def breaking(self) -> bool:
        return any(c.level == ERROR for c in self.changes)

    def at_least(self, level: str) -> list[Change]:
        return [c for c in self.changes if LEVEL_RANK[c.level] >= LEVEL_RANK[level]]

    def ids(self) -> list[str]:
        return [c.id for c in self.changes]

    def to_json(self) -> dict[str, Any]:
        return {
            "operations": {
                "added": list(self.added),
                "removed": list(self.removed),
                "modified": list(self.modified),
            },
            "changes": [c.to_json() for c in self.changes],
            "breaking": self.breaking,
        }


def _sunset(op: Operation) -> _dt.date | None:
    if not op.sunset:
        return None
    try:
        return _dt.date.fromisoformat(str(op.sunset)[:10])
    except ValueError:
        return None


def _op_ptr(op: Operation) -> list[str | int]:
    return ["paths", op.path, op.method.lower()]


def _param_ptr(spec: Spec) -> Any:
    def ptr(op: Operation, p: Parameter, _in_base: bool) -> list[str | int]:
        item = (spec.raw.get("paths") or {}).get(op.path) or {}
        for base, params in (
            (_op_ptr(op), (item.get(op.method.lower()) or {}).get("parameters")),
            (["paths", op.path], item.get("parameters")),
        ):
            for i, raw in enumerate(params or []):
                if (
                    isinstance(raw, dict)
                    and raw.get("name") == p.name
                    and raw.get("in") == p.location
                ):
                    return [*base, "parameters", i]
        return [*_op_ptr(op), "parameters"]

    return ptr


def _body_ptr(spec: Spec, op: Operation) -> list[str | int]:
    if spec.version.startswith("2"):
        item = ((spec.raw.get("paths") or {}).get(op.path) or {}).get(op.method.lower()) or {}
        for i, raw in enumerate(item.get("parameters") or []):
            if isinstance(raw, dict) and raw.get("in") in ("body", "formData"):
                return [*_op_ptr(op), "parameters", i]
    return [*_op_ptr(op), "requestBody"]


def _surface(op: Operation) -> tuple[Any, ...]:
    """What a client or a load test can observe; summary, tags and ids are left out."""
    return (
        op.parameters,
        op.request_body,
        op.responses,
        op.security,
        op.servers,
        op.deprecated,
        op.sunset,
    )


def _operation(base_spec: Spec, head_spec: Spec, b: Operation, h: Operation) -> list[Change]:
    out = Emitter(h.key, base_spec.source, head_spec.source, [], [])  # absolute pointers
    deprecated = [*_op_ptr(h), "deprecated"]
    if h.deprecated and not b.deprecated:
        if h.sunset:
            out.emit(
                "endpoint-deprecated-with-sunset",
                INFO,
                f"endpoint deprecated with sunset date {h.sunset}",
                deprecated,
            )
        else:
            out.emit("endpoint-deprecated", INFO, "endpoint deprecated", deprecated)
    elif b.deprecated and not h.deprecated:
        out.emit("endpoint-reactivated", INFO, "endpoint reactivated", deprecated)
    operation_rules.parameters(
        out,
        b,
        h,
        lambda op, p, in_base: (_param_ptr(base_spec) if in_base else _param_ptr(head_spec))(
            op, p, in_base
        ),
        swagger2=head_spec.version.startswith("2"),
    )
    operation_rules.request_body(
        out,
        b.request_body,
        h.request_body,
        _body_ptr(head_spec, h),
        _body_ptr(base_spec, b),
        head_spec.version.startswith("2"),
    )
    operation_rules.responses(
        out,
        b.responses,
        h.responses,
        [*_op_ptr(h), "responses"],
        [*_op_ptr(b), "responses"],
        head_spec.version.startswith("2"),
    )
    if b.security != h.security:
        operation_rules.security(out, b.security, h.security, [*_op_ptr(h), "security"])
    return out.changes


def _removed(base_spec: Spec, op: Operation, path_gone: bool, today: _dt.date) -> Change:
    out = Emitter(op.key, base_spec.source, base_spec.source, _op_ptr(op), _op_ptr(op))
    stem = "api-path" if path_gone else "api"
    sunset = _sunset(op)
    if op.deprecated and sunset is not None and sunset > today:
        out.emit(
            f"{stem}-removed-before-sunset",
            ERROR,
            f"api removed before the sunset date {op.sunset}",
            in_base=True,
        )
    elif op.deprecated:
        out.emit(
            f"{stem}-removed-with-deprecation",
            INFO,
            f"api {'path ' if path_gone else ''}removed with deprecation",
            in_base=True,
        )
    else:
        out.emit(
            f"{stem}-removed-without-deprecation",
            ERROR,
            f"api {'path ' if path_gone else ''}removed without deprecation",
            in_base=True,
        )
    return out.changes[0]


def diff_specs(base: Spec, head: Spec, *, today: _dt.date | None = None) -> SpecDiff:
    """Compare ``base`` (e.g. the merge base) with ``head`` (the revision under test).

    Structural equality goes through fingerprints memoised for the whole diff
    (``plog_ci.openapi.fingerprint``): a shared component is hashed once, and a
    comparison only descends where the two sides differ, so the time grows with
    the size of the change, not with the number of places a schema is reached.
    """
    with memo(), schema_rules.components(base.raw, head.raw):
        return _diff(base, head, today or _dt.date.today())


def _diff(base: Spec, head: Spec, today: _dt.date) -> SpecDiff:
    result = SpecDiff(base_source=base.source, head_source=head.source)
    base_ops = {op.normalized_key: op for op in base.operations.values()}
    head_ops = {op.normalized_key: op for op in head.operations.values()}
    head_paths = {normalize_path(op.path) for op in head.operations.values()}
    head_paths |= {normalize_path(str(p)) for p in (head.raw.get("paths") or {})}
    changes: list[Change] = []
    for key, op in base_ops.items():
        if key not in head_ops:
            result.removed.append(op.key)
            changes.append(_removed(base, op, normalize_path(op.path) not in head_paths, today))
    for key, op in head_ops.items():
        b = base_ops.get(key)
        if b is None:
            result.added.append(op.key)
            changes.append(
                Change(
                    "endpoint-added",
                    INFO,
                    op.key,
                    "endpoint added",
                    f"{head.source}#/" + "/".join(esc(p) for p in _op_ptr(op)),
                )
            )
            continue
        if same(_surface(b), _surface(op)):
            continue
        result.modified.append(op.key)
        changes.extend(_operation(base, head, b, op))
    glob = Emitter("", base.source, head.source, [], [])
    if base.security != head.security:
        operation_rules.security(
            glob, base.security, head.security, ["security"], prefix="api-global", where="API"
        )
    changes.extend(glob.changes)
    result.added.sort()
    result.removed.sort()
    result.modified.sort()
    order = {k: i for i, k in enumerate([*result.removed, *result.modified, *result.added])}
    changes.sort(key=lambda c: (-LEVEL_RANK[c.level], order.get(c.operation, -1)))
    result.changes = changes
    return result
