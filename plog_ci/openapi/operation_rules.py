"""Rules on one operation: parameters, request body, responses and security requirements.

Each function compares the base and head (revision) view of one part of an
operation and emits :class:`~plog_ci.openapi.changes.Change` records through an
:class:`~plog_ci.openapi.changes.Emitter`; the schemas inside are compared by
:class:`~plog_ci.openapi.schema_rules.SchemaRules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from plog_ci.openapi.changes import ERROR, INFO, WARNING, Emitter, fmt_value
from plog_ci.openapi.fingerprint import same
from plog_ci.openapi.model import MediaType, Operation, Parameter, RequestBody, Response
from plog_ci.openapi.schema_rules import SchemaRules

_TEMPLATE = re.compile(r"\{([^}/]*)\}")


def _param_key(p: Parameter) -> tuple[str, str]:
    name = p.name.lower() if p.location == "header" else p.name
    return p.location, name


def _path_names(path: str) -> list[str]:
    return _TEMPLATE.findall(path)


def parameters(
    out: Emitter,
    base: Operation,
    head: Operation,
    param_ptr: Callable[[Operation, Parameter, bool], list[str | int]],
    *,
    swagger2: bool = False,
) -> None:
    """Changes of the operation's parameters. ``swagger2``: a non-body parameter's
    schema keywords sit on the parameter itself (Swagger 2.0), not under ``schema``."""
    schema_at: list[str | int] = [] if swagger2 else ["schema"]
    # Path parameters are matched by position: /pets/{id} and /pets/{petId} are the same.
    rename = dict(zip(_path_names(base.path), _path_names(head.path), strict=False))
    bmap: dict[tuple[str, str], Parameter] = {}
    for p in base.parameters:
        key = _param_key(p)
        if p.location == "path" and p.name in rename:
            key = ("path", rename[p.name])
        bmap[key] = p
    hmap = {_param_key(p): p for p in head.parameters}
    for key, p in bmap.items():
        if key not in hmap:
            out.emit(
                "request-parameter-removed",
                WARNING,
                f"deleted the {p.location} request parameter {p.name}",
                param_ptr(base, p, True),
                in_base=True,
            )
    for key, h in hmap.items():
        b = bmap.get(key)
        ptr = param_ptr(head, h, False)
        if b is None:
            if h.location == "path":
                out.emit(
                    "new-request-path-parameter",
                    ERROR,
                    f"added the new path request parameter {h.name}",
                    ptr,
                )
            elif h.shared:
                rid = (
                    "new-required-request-default-parameter-to-existing-path"
                    if h.required
                    else "new-optional-request-default-parameter-to-existing-path"
                )
                kind = "required" if h.required else "optional"
                out.emit(
                    rid,
                    ERROR if h.required else INFO,
                    f"added the new {kind} {h.location} request parameter {h.name} to all "
                    "path's operations",
                    ptr,
                )
            elif h.required:
                out.emit(
                    "new-required-request-parameter",
                    ERROR,
                    f"added the new required {h.location} request parameter {h.name}",
                    ptr,
                )
            else:
                out.emit(
                    "new-optional-request-parameter",
                    INFO,
                    f"added the new optional {h.location} request parameter {h.name}",
                    ptr,
                )
            continue
        if same(b, h):
            continue
        if h.required and not b.required:
            out.emit(
                "request-parameter-became-required",
                ERROR,
                f"the {h.location} request parameter {h.name} became required",
                ptr,
            )
        elif b.required and not h.required:
            out.emit(
                "request-parameter-became-optional",
                INFO,
                f"the {h.location} request parameter {h.name} became optional",
                ptr,
            )
        if h.deprecated and not b.deprecated:
            out.emit(
                "request-parameter-deprecated",
                INFO,
                f"{h.location} request parameter {h.name} was deprecated",
                ptr,
            )
        elif b.deprecated and not h.deprecated:
            out.emit(
                "request-parameter-reactivated",
                INFO,
                f"{h.location} request parameter {h.name} was reactivated",
                ptr,
            )
        if b.schema is not None and h.schema is not None:
            bd, hd = b.schema.get("default"), h.schema.get("default")
            if bd != hd and not h.required:
                if bd is None:
                    rid, msg = "added", f"added the default value {fmt_value(hd)}"
                elif hd is None:
                    rid, msg = "removed", f"removed the default value {fmt_value(bd)}"
                else:
                    rid, msg = (
                        "changed",
                        f"changed the default value from {fmt_value(bd)} to {fmt_value(hd)}",
                    )
                out.emit(
                    f"request-parameter-default-value-{rid}",
                    ERROR,
                    f"for the {h.location} request parameter {h.name}, {msg}",
                    [*ptr, *schema_at, "default"],
                )
            # A parameter described by ``content`` (a JSON document in a query string):
            # its schema is not checked keyword by keyword, as oasdiff does not (a change
            # still marks the operation modified).
            if h.content_type is None and b.content_type is None:
                SchemaRules(out, True, "request-parameter", [*ptr, *schema_at], param=h).compare(
                    b.schema, h.schema
                )


def request_body(
    out: Emitter,
    base: RequestBody | None,
    head: RequestBody | None,
    ptr: list[str | int],
    base_ptr: list[str | int],
    swagger2: bool = False,
) -> None:
    if base is None and head is None:
        return
    if head is None:
        out.emit("request-body-removed", ERROR, "removed the request body", base_ptr, in_base=True)
        return
    if base is None:
        if head.required:
            out.emit("added-required-request-body", ERROR, "added required request body", ptr)
        else:
            out.emit("added-optional-request-body", INFO, "added optional request body", ptr)
        return
    if head.required and not base.required:
        out.emit("request-body-became-required", ERROR, "request body became required", ptr)
    elif base.required and not head.required:
        out.emit("request-body-became-optional", INFO, "request body became optional", ptr)
    for mt in base.content:
        if mt not in head.content:
            out.emit(
                "request-body-media-type-removed",
                ERROR,
                f"removed the media type {mt} from the request body",
                [*base_ptr, "content", mt],
                in_base=True,
            )
    for mt, media in head.content.items():
        if mt not in base.content:
            out.emit(
                "request-body-media-type-added",
                INFO,
                f"added the media type {mt} to the request body",
                [*ptr, "content", mt],
            )
            continue
        schema_ptr = [*ptr, "schema"] if swagger2 else [*ptr, "content", mt, "schema"]
        _media(out, base.content[mt], media, True, schema_ptr, "")


def _media(
    out: Emitter, base: MediaType, head: MediaType, request: bool, ptr: list[str | int], status: str
) -> None:
    prefix = "request-body" if request else "response-body"
    SchemaRules(out, request, prefix, ptr, media_type=head.media_type, status=status).compare(
        base.schema, head.schema
    )


def _success(status: str) -> bool:
    return status.startswith("2") and (status.isdigit() or status.upper() == "2XX")


def responses(
    out: Emitter,
    base: dict[str, Response],
    head: dict[str, Response],
    ptr: list[str | int],
    base_ptr: list[str | int],
    swagger2: bool,
) -> None:
    for status in base:
        if status not in head:
            if _success(status):
                out.emit(
                    "response-success-status-removed",
                    ERROR,
                    f"removed the success response with the status {status}",
                    [*base_ptr, status],
                    in_base=True,
                )
            else:
                out.emit(
                    "response-non-success-status-removed",
                    INFO,
                    f"removed the non-success response with the status {status}",
                    [*base_ptr, status],
                    in_base=True,
                )
    for status, resp in head.items():
        b = base.get(status)
        if b is None:
            kind = "success" if _success(status) else "non-success"
            out.emit(
                f"response-{kind}-status-added",
                INFO,
                f"added the {kind} response with the status {status}",
                [*ptr, status],
            )
            continue
        if same(b, resp):
            continue
        for mt in b.content:
            if mt not in resp.content:
                out.emit(
                    "response-media-type-removed",
                    ERROR,
                    f"removed the media type {mt} for the response with the status {status}",
                    [*base_ptr, status, "content", mt],
                    in_base=True,
                )
        for mt, media in resp.content.items():
            if mt not in b.content:
                out.emit(
                    "response-media-type-added",
                    INFO,
                    f"added the media type {mt} for the response with the status {status}",
                    [*ptr, status, "content", mt],
                )
                continue
            schema_ptr: list[str | int] = (
                [*ptr, status, "schema"] if swagger2 else [*ptr, status, "content", mt, "schema"]
            )
            _media(out, b.content[mt], media, False, schema_ptr, status)
        bh = {k.lower(): v for k, v in b.headers.items()}
        hh = {k.lower(): v for k, v in resp.headers.items()}
        for name, header in bh.items():
            if name not in hh:
                kind = "required" if header.required else "optional"
                out.emit(
                    f"{kind}-response-header-removed",
                    ERROR if header.required else WARNING,
                    f"the {kind} response header {header.name} removed for the status {status}",
                    [*base_ptr, status, "headers", header.name],
                    in_base=True,
                )
            elif header.required and not hh[name].required:
                out.emit(
                    "response-header-became-optional",
                    ERROR,
                    f"the response header {header.name} became optional for the status {status}",
                    [*ptr, status, "headers", hh[name].name],
                )


def _requirements(
    sec: tuple[dict[str, tuple[str, ...]], ...] | None,
) -> dict[frozenset[str], dict[str, tuple[str, ...]]]:
    return {frozenset(req): req for req in sec or ()}


def _names(req: frozenset[str]) -> str:
    return " AND ".join(sorted(req)) or "(none)"


def security(
    out: Emitter,
    base: tuple[dict[str, tuple[str, ...]], ...] | None,
    head: tuple[dict[str, tuple[str, ...]], ...] | None,
    ptr: list[str | int],
    prefix: str = "api",
    where: str = "endpoint",
) -> None:
    breqs, hreqs = _requirements(base), _requirements(head)
    for key in breqs:
        if key not in hreqs:
            out.emit(
                f"{prefix}-security-removed",
                INFO,
                f"the {where} security scheme {_names(key)} was removed",
                ptr,
            )
    for key, req in hreqs.items():
        if key not in breqs:
            out.emit(
                f"{prefix}-security-added",
                INFO,
                f"the {where} security scheme {_names(key)} was added",
                ptr,
            )
            continue
        for scheme, scopes in req.items():
            old = set(breqs[key].get(scheme, ()))
            for scope in sorted(set(scopes) - old):
                out.emit(
                    f"{prefix}-security-scope-added",
                    INFO,
                    f"the security scope {scope} was added to the {where} security scheme {scheme}",
                    ptr,
                )
            for scope in sorted(old - set(scopes)):
                out.emit(
                    f"{prefix}-security-scope-removed",
                    INFO,
                    f"the security scope {scope} was removed from the {where} security "
                    f"scheme {scheme}",
                    ptr,
                )
