"""The plan's operations: each selected operation's request, data rows and producers.

An operation PLog cannot send as its spec asks (``requests.Unsendable``) is
left out with a warning ``"METHOD /path: not loaded: reason"``; a producer
that cannot be sent feeds no ids (its consumers keep their generated values,
with a warning); a data-file row that cannot be sent is skipped with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plog_ci.config.model import LoadConfig, OperationOverride
from plog_ci.errors import InputError
from plog_ci.loadgen.datafiles import load_rows
from plog_ci.loadgen.identity import keep_identity
from plog_ci.loadgen.links import Binding, bindings, cleanup_for, parent_map, path_names
from plog_ci.loadgen.requests import ROW_KEYS, Unsendable, plan_request
from plog_ci.loadgen.validity import id_check
from plog_ci.openapi.model import Operation, Spec, normalize_path

OVERRIDE_HINT = "give its values or body under load.overrides in plog.yml"


@dataclass
class Planned:
    operations: list[Operation] = field(default_factory=list)  # those that can be sent
    plans: list[dict[str, Any]] = field(default_factory=list)  # one per operation
    producers: list[dict[str, Any]] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    # (producer, consumer, parameter): who reads each producer's ids
    feeds: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "METHOD /path: not loaded: why"


def _rows(
    op: Operation,
    override: OperationOverride,
    data_root: Path | None,
    warnings: list[str],
) -> tuple[list[dict[str, Any]], set[str]]:
    """The data file's rows as wire-ready request values, and the columns they fix."""
    if data_root is None:
        raise InputError(
            f"plog.yml: load.overrides[{op.key!r}].data: no repository to read it from"
        )
    assert override.data is not None
    rows = load_rows(data_root, override.data, f"load.overrides[{op.key!r}]")
    out = []
    for number, row in enumerate(rows, start=1):
        try:
            planned = plan_request(op, override, warnings, row=row)
        except Unsendable as exc:
            warnings.append(f"{op.key}: {override.data} row {number} is not sendable ({exc})")
            continue
        out.append({key: planned[key] for key in ROW_KEYS})
    if not out:
        raise Unsendable(f"no row of {override.data} can be sent")
    return out, {k for row in rows for k in row}


def sends_credentials(op: Operation, load: LoadConfig) -> bool:
    """Whether ``op``'s requests carry ``load.auth``: unless the operation declares no
    security (``security: []``), or always with ``load.auth.apply: always``."""
    return op.security != () or (load.auth is not None and load.auth.apply == "always")


def collection_wipes(spec: Spec, operations: list[Operation]) -> dict[str, str]:
    """The DELETEs of a whole collection that would empty what other selected operations
    read, each with one of those operations. A collection is a path whose items the
    spec addresses below it (``DELETE /buckets`` beside ``/buckets/{id}``); loaded
    beside its readers, every later read gets 403 or 404 and the run measures error
    pages (issue 17, item 5; RESTler keeps a destructive request to resources created
    for it). Not here: a DELETE of one resource (``/buckets/{id}``, which deletes one
    created for it, ``createFirst``), or of a relation (``/profiles/{u}/follow``)."""
    out: dict[str, str] = {}
    for op in operations:
        if op.method != "DELETE" or op.path.rstrip("/").endswith("}"):
            continue
        base = normalize_path(op.path).rstrip("/")
        items = base + "/{}"
        if not any(normalize_path(o.path).startswith(items) for o in spec.operations.values()):
            continue  # nothing is addressed below it: not a collection
        for other in operations:
            if other.key == op.key or other.method == "DELETE":
                continue
            path = normalize_path(other.path).rstrip("/")
            if path == base or path.startswith(base + "/"):
                out[op.key] = other.key
                break
    return out


def plan_operations(
    spec: Spec,
    operations: list[Operation],
    by_key: dict[str, OperationOverride],
    load: LoadConfig,
    data_root: Path | None,
    warnings: list[str],
) -> Planned:
    out = Planned()
    producers = _Producers(spec, by_key, load, out, warnings)
    wipes = collection_wipes(spec, operations)
    for op in operations:
        override = by_key.get(op.key)
        if op.key in wipes:
            out.skipped.append(
                f"{op.key}: not loaded: it deletes what {wipes[op.key]} read "
                "(select it alone in load.operations to load-test it)"
            )
            continue
        try:
            plan = plan_request(op, override, warnings)
            plan["rows"] = None
            fixed = {k for k, _ in override.path} if override else set()
            if override and override.data:
                plan["rows"], columns = _rows(op, override, data_root, warnings)
                fixed |= columns  # a data file's columns win over ids from setup
        except Unsendable as exc:
            out.skipped.append(f"{op.key}: not loaded: {exc} ({OVERRIDE_HINT})")
            continue
        plan["createFirst"] = None
        plan["binds"], plan["parents"] = {}, {}
        for binding, index in producers.bind(op, fixed):
            parents = parent_map(op.path, binding.param, spec.operations[binding.producer].path)
            # A DELETE consumes what it names: it creates its own resource first,
            # so it never empties the pool the other operations read.
            if op.method == "DELETE" and binding.param == _last_param(op):
                plan["createFirst"] = {
                    "producer": index,
                    "param": binding.param,
                    "parents": parents,
                }
                continue
            plan["binds"][binding.param] = index
            _id_check(op, binding.param, plan)
            if parents:
                plan["parents"][binding.param] = parents
            if binding.param == _last_param(op):
                keep_identity(op, plan, binding.param)
        plan["auth"] = sends_credentials(op, load)
        out.plans.append(plan)
        out.operations.append(op)
    warnings.extend(out.skipped)
    return out


def _id_check(op: Operation, param: str, plan: dict[str, Any]) -> None:
    """What the path parameter's schema asks of an id from setup (``validity.id_check``),
    for the script to keep the ids that fit: a mock (Prism) answers any integer for an
    unbounded response id, and ``-9007199254740991`` sent where the spec asks 1..500 is
    rejected where the generated value would not be."""
    found = next((p for p in op.params("path") if p.name == param), None)
    check = id_check(found.schema) if found is not None else {}
    if check:
        plan.setdefault("idChecks", {})[param] = check


def _last_param(op: Operation) -> str | None:
    names = path_names(op.path)
    return names[-1] if names else None


class _Producers:
    """The setup requests, in the order the script makes them: a producer that needs
    an id itself (``POST /buckets/{id}/collections``) comes after the one it needs it
    from (``POST /buckets``), and carries ``binds``/``parents`` as an operation does;
    a cycle, or a chain deeper than ``MAX_DEPTH``, stops with the generated value."""

    MAX_DEPTH = 8  # real APIs nest three or four levels

    def __init__(
        self,
        spec: Spec,
        by_key: dict[str, OperationOverride],
        load: LoadConfig,
        out: Planned,
        warnings: list[str],
    ) -> None:
        self.spec, self.by_key, self.load = spec, by_key, load
        self.out, self.warnings = out, warnings
        self.index: dict[tuple[str, str], int | str] = {}
        self.making: list[str] = []  # producers being planned (cycle guard)

    def bind(self, op: Operation, fixed: set[str]) -> list[tuple[Binding, int]]:
        """Each of ``op``'s bindings with the index of its producer entry (planned on
        first use), skipping ``fixed`` parameters and producers that cannot be sent."""
        found = []
        for binding in bindings(self.spec, op):
            if binding.param in fixed or binding.producer in self.making:
                continue
            producer = self.spec.operations[binding.producer]
            where = (
                binding.pointer
                if binding.pointer is not None
                else "?" + ",".join(binding.candidates)
            )
            slot = (producer.key, where)
            if slot not in self.index:
                self.index[slot] = self._plan(producer, binding, op)
            index = self.index[slot]
            if isinstance(index, str):
                self.warnings.append(
                    f"{op.key}: {binding.param} cannot come from {producer.key} ({index}); "
                    "the generated value is used"
                )
                continue
            origin = "the response" if binding.pointer is None else binding.pointer or "/"
            self.out.dependencies.append(
                f"{producer.key} -> {op.key} ({binding.param} from {origin}, {binding.source})"
            )
            self.out.feeds.append((producer.key, op.key, binding.param))
            found.append((binding, index))
        return found

    def _plan(self, producer: Operation, binding: Binding, consumer: Operation) -> int | str:
        """The index of a new producer entry, or why the producer cannot be sent."""
        if len(self.making) >= self.MAX_DEPTH:
            return f"a chain of producers deeper than {self.MAX_DEPTH}"
        try:
            request = plan_request(producer, self.by_key.get(producer.key), self.warnings)
        except Unsendable as exc:
            return str(exc)
        # Setup and cleanup go to the same API as the load: with the same credentials.
        request["auth"] = sends_credentials(producer, self.load)
        request["binds"], request["parents"] = {}, {}
        fixed = (
            {k for k, _ in self.by_key[producer.key].path} if producer.key in self.by_key else set()
        )
        self.making.append(producer.key)
        try:
            for own, index in self.bind(producer, fixed):
                request["binds"][own.param] = index
                _id_check(producer, own.param, request)
                parents = parent_map(
                    producer.path, own.param, self.spec.operations[own.producer].path
                )
                if parents:
                    request["parents"][own.param] = parents
        finally:
            self.making.pop()
        cleanup = cleanup_for(self.spec, binding, consumer) if self.load.cleanup else None
        cleanup_plan = None
        if cleanup is not None:
            try:
                cleanup_plan = plan_request(cleanup, None, self.warnings)
                cleanup_plan["auth"] = sends_credentials(cleanup, self.load)
            except Unsendable:
                cleanup = None
        cleanup_param = path_names(cleanup.path)[-1] if cleanup else None
        self.out.producers.append(
            {
                "request": request,
                "pointer": binding.pointer,
                "candidates": list(binding.candidates),
                "cleanup": cleanup_plan,
                "cleanupParam": cleanup_param,
                # the DELETE's other path parameters: the parents the resource was made in
                "cleanupParents": (
                    parent_map(cleanup.path, cleanup_param, producer.path)
                    if cleanup and cleanup_param
                    else {}
                ),
            }
        )
        return len(self.out.producers) - 1
