"""One operation → the request plan the k6 template sends (pure JSON data, wire-ready).

Every value in the plan is already what goes on the wire: path values
percent-encoded in their style (``plog_ci.loadgen.serialize``), query items as
encoded ``name=value`` text, header values, cookies as (name, value) pairs for
one ``Cookie`` header, and the body as its exact text with its Content-Type
(``plog_ci.loadgen.bodies``). So no number passes through JavaScript's
``JSON.parse`` on its way out: integers of any size keep their digits. The
only values the script serialises itself are ids read from producers at run
time: primitives in a path, written as ``prefix + encodeURIComponent(id)``
with the prefix of the parameter's style (``pathPrefix``).

What cannot be sent as the spec asks raises :class:`Unsendable` (the caller
skips the operation and says why); an optional parameter that cannot be
serialised is left out with a warning. Header parameters whose names are not
HTTP tokens, or whose values hold line breaks, are dropped with a warning:
they could only make the request invalid.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from plog_ci.config.model import OperationOverride
from plog_ci.loadgen import bodies
from plog_ci.loadgen.serialize import (
    Style,
    Unsendable,
    content_text,
    cookie_pairs,
    header_value,
    path_prefix,
    path_value,
    query_pairs,
    style_of,
)
from plog_ci.loadgen.values import for_media, for_parameter
from plog_ci.openapi.model import Operation, Parameter

__all__ = ["ROW_KEYS", "Unsendable", "path_parts", "plan_request"]

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PATH_SAFE = "/-._~!$&'()*+,;=:@"
_PARAM = re.compile(r"\{([^{}/]*)\}")
_IGNORED_HEADERS = ("content-type", "accept", "authorization")  # OpenAPI ignores these
LOCATIONS = ("path", "query", "header", "cookie")
# What a data-file row may change: the request's values, not its shape.
ROW_KEYS = ("pathValues", "query", "headers", "cookies", "body", "contentType")


def path_parts(path: str) -> list[dict[str, str]]:
    """``/pets/{petId}`` → [{"text": "/pets/"}, {"param": "petId"}], text percent-encoded."""
    if not path.startswith("/"):
        path = "/" + path  # never let a spec path become part of the authority
    parts: list[dict[str, str]] = []
    pos = 0
    for match in _PARAM.finditer(path):
        if match.start() > pos:
            parts.append({"text": quote(path[pos : match.start()], safe=_PATH_SAFE)})
        parts.append({"param": match[1]})
        pos = match.end()
    if pos < len(path):
        parts.append({"text": quote(path[pos:], safe=_PATH_SAFE)})
    return parts


def _fixed(
    op: Operation, override: OperationOverride | None, row: dict[str, Any] | None
) -> tuple[dict[str, dict[str, Any]], tuple[Any] | None]:
    """Values plog.yml fixes, by location, then a data row's (which win); and the body."""
    fixed: dict[str, dict[str, Any]] = {
        "path": dict(override.path) if override else {},
        "query": dict(override.query) if override else {},
        "header": dict(override.headers) if override else {},
        "cookie": dict(override.cookies) if override else {},
    }
    body: tuple[Any] | None = (override.body,) if override and override.has_body else None
    where = {p.name: p.location for p in op.parameters}
    for key, value in (row or {}).items():
        if key == "body":
            body = (value,)
        else:
            fixed[where.get(key, "query")][key] = value
    return fixed, body


def _value(param: Parameter, fixed: dict[str, Any], notes: list[str]) -> Any:
    value = fixed.pop(param.name) if param.name in fixed else for_parameter(param, warnings=notes)
    if param.content_type is not None:
        return content_text(param, value)
    return value


def _style(param: Parameter) -> Style:
    if param.content_type is not None:  # one media type's text, as a primitive
        return Style(param.name, param.location, "simple", False)
    return style_of(param)


def plan_request(
    op: Operation,
    override: OperationOverride | None,
    warnings: list[str],
    *,
    row: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The wire-ready request for ``op`` (with ``override``'s values, then ``row``'s).

    Messages go to ``warnings`` as ``"METHOD /path: reason"``. Raises
    :class:`Unsendable` when the operation cannot be sent as its spec asks (a
    required value its style cannot carry, a required body of no type PLog
    renders).
    """
    notes: list[str] = []
    fixed, body_override = _fixed(op, override, row)
    path_values: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for p in op.params("path"):
        style = _style(p)
        path_values[p.name] = path_value(style, _value(p, fixed["path"], notes))
        prefixes[p.name] = path_prefix(style)
    query: list[str] = []
    cookies: list[list[str]] = []
    headers: dict[str, str] = {}
    for p in op.parameters:
        if p.location == "path" or p.location not in LOCATIONS:
            continue
        if p.location == "header" and p.name.lower() in _IGNORED_HEADERS:
            continue
        given = p.name in fixed[p.location]
        if not (given or p.required or p.examples):
            continue
        try:
            style = _style(p)
            value = _value(p, fixed[p.location], notes)
            if p.location == "query":
                query += query_pairs(style, value)
            elif p.location == "cookie":
                cookies += [[n, v] for n, v in _cookies(style, value)]
            else:
                headers[_header_name(p.name)] = header_value(style, value)
        except Unsendable as exc:
            if p.location != "header" and (given or p.required):
                raise
            notes.append(f"{p.location} parameter {p.name!r} is not sendable ({exc}); skipped")
    for name, value in fixed["query"].items():  # not in the spec: plain form
        query += query_pairs(Style(str(name), "query", "form", True), value)
    for name, value in fixed["header"].items():
        try:
            headers[_header_name(str(name))] = header_value(
                Style(str(name), "header", "simple", False), value
            )
        except Unsendable as exc:
            notes.append(f"header {name!r} is not sendable ({exc}); skipped")
    for name, value in fixed["cookie"].items():
        try:
            cookies += [
                [n, v] for n, v in _cookies(Style(str(name), "cookie", "form", True), value)
            ]
        except Unsendable as exc:
            notes.append(f"cookie {name!r} is not sendable ({exc}); skipped")

    def value_for(media: Any) -> Any:
        return for_media(media, warnings=notes)

    body = bodies.choose(op.request_body, value_for, body_override, notes)
    warnings.extend(f"{op.key}: {note}" for note in notes)
    expected = list(override.expect) if override and override.expect else []
    return {
        "name": op.key,
        "method": op.method,
        "pathParts": path_parts(op.path),
        "pathValues": path_values,
        "pathPrefix": prefixes,
        "query": query,
        "headers": headers,
        "cookies": cookies,
        "body": body.text if body else None,
        "contentType": body.content_type if body else None,
        "expected": expected or list(op.success_statuses()),
    }


def _header_name(name: str) -> str:
    if not _TOKEN.match(name):
        raise Unsendable("the name is not an HTTP token")
    return name


def _cookies(style: Style, value: Any) -> list[tuple[str, str]]:
    if not _TOKEN.match(style.name):
        raise Unsendable("the name is not a cookie name (an HTTP token)")
    pairs = cookie_pairs(style, value)
    if any(not _TOKEN.match(n) for n, _ in pairs):
        raise Unsendable("an exploded key is not a cookie name (an HTTP token)")
    return pairs
