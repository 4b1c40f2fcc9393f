"""Lenient checks: what breaks the OpenAPI schema in small ways becomes a warning.

A spec with a duplicate operationId or a path parameter without
``required: true`` is still clear enough to diff and load-test, so these never
stop a run; only what prevents understanding the spec is an error (see load).
"""

from __future__ import annotations

import re
from typing import Any

from plog_ci.openapi.model import METHODS

_MAX_WARNINGS = 20
_TEMPLATE = re.compile(r"\{([^}/]+)\}")


def structural(doc: dict[str, Any], source: str) -> tuple[str, ...]:
    """Cheap checks on the unresolved root document (any size)."""
    out: list[str] = []
    seen_ids: dict[str, str] = {}
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict):
            out.append(f"{source}: paths.{path}: not a mapping; ignored")
            continue
        shared = [p for p in item.get("parameters") or [] if isinstance(p, dict)]
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            where = f"{source}: {method.upper()} {path}"
            op_id = op.get("operationId")
            if isinstance(op_id, str):
                if op_id in seen_ids:
                    out.append(f"{where}: operationId {op_id!r} is also used by {seen_ids[op_id]}")
                else:
                    seen_ids[op_id] = f"{method.upper()} {path}"
            if "responses" not in op:
                out.append(f"{where}: no 'responses'; assuming 200")
            params = shared + [p for p in op.get("parameters") or [] if isinstance(p, dict)]
            declared: set[str | None] = set()
            for p in params:
                if "$ref" in p:  # checked after resolution would need the target; skip
                    declared.add(None)
                    continue
                if p.get("in") == "path":
                    declared.add(p.get("name"))
                    if p.get("required") is not True:
                        out.append(
                            f"{where}: path parameter {p.get('name')!r} lacks "
                            "'required: true'; treated as required"
                        )
            if None not in declared:
                for name in _TEMPLATE.findall(str(path)):
                    if name not in declared:
                        out.append(
                            f"{where}: path parameter {{{name}}} is not declared; sent as a string"
                        )
    if len(out) > _MAX_WARNINGS:
        out = [*out[:_MAX_WARNINGS], f"{source}: ... and {len(out) - _MAX_WARNINGS} more"]
    return tuple(out)


def validate(doc: dict[str, Any], source: str) -> tuple[str, ...]:
    """openapi-spec-validator findings as warnings; no URL handlers, so it cannot fetch."""
    from jsonschema_path import SchemaPath
    from openapi_spec_validator.shortcuts import get_validator_cls
    from openapi_spec_validator.validation.exceptions import ValidatorDetectError

    try:
        cls = get_validator_cls(doc)
    except ValidatorDetectError:
        return (f"{source}: schema validation skipped (version not recognised)",)
    spec_path = SchemaPath.from_dict(doc, base_uri="", handlers={})
    out: list[str] = []
    try:
        for error in cls(spec_path).iter_errors():
            message = str(getattr(error, "message", error)).splitlines()[0][:300]
            out.append(f"{source}: does not follow the OpenAPI schema: {message}")
            if len(out) >= _MAX_WARNINGS:
                break
    # The validator is a third-party walker over hostile input; any crash in it only
    # means "could not validate", never that the spec is unusable.
    except Exception as exc:
        out.append(
            f"{source}: schema validation stopped early: {type(exc).__name__}: {str(exc)[:200]}"
        )
    return tuple(out)
