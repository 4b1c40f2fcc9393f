"""One operation → the request plan the k6 template sends (pure JSON data).

Path text is percent-encoded here; values that only exist at run time
(ids from setup, data-file rows) are encoded by the script with
``encodeURIComponent``. Header parameters whose names are not HTTP tokens, or
whose values hold line breaks, are dropped with a warning: they could only
make the request invalid.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from plog_ci.config.model import OperationOverride
from plog_ci.loadgen.values import for_media, for_parameter
from plog_ci.openapi.model import Operation, Parameter

BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/plain")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PATH_SAFE = "/-._~!$&'()*+,;=:@"
_PARAM = re.compile(r"\{([^{}/]*)\}")


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)


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


def _query_pairs(param: Parameter, value: Any) -> list[list[str]]:
    if isinstance(value, list):
        if param.explode is False:
            return [[param.name, ",".join(as_text(v) for v in value)]]
        return [[param.name, as_text(v)] for v in value]
    if isinstance(value, dict) and param.explode is not False and param.style in (None, "form"):
        return [[str(k), as_text(v)] for k, v in value.items()]
    return [[param.name, as_text(value)]]


def _header_ok(name: str, value: str) -> bool:
    return bool(_TOKEN.match(name)) and "\r" not in value and "\n" not in value


def plan_request(
    op: Operation, override: OperationOverride | None, warnings: list[str]
) -> dict[str, Any]:
    fixed_path = dict(override.path) if override else {}
    fixed_query = dict(override.query) if override else {}
    fixed_headers = dict(override.headers) if override else {}
    fixed_cookies = dict(override.cookies) if override else {}
    path_values = {
        p.name: as_text(fixed_path[p.name] if p.name in fixed_path else for_parameter(p))
        for p in op.params("path")
    }
    query: list[list[str]] = []
    for p in op.params("query"):
        if p.name in fixed_query:
            query += _query_pairs(p, fixed_query.pop(p.name))
        elif p.required or p.examples:
            query += _query_pairs(p, for_parameter(p))
    query += [[str(k), as_text(v)] for k, v in fixed_query.items()]
    headers: dict[str, str] = {}
    for p in op.params("header"):
        if p.name.lower() in ("content-type", "accept", "authorization"):
            continue  # OpenAPI ignores these as parameters
        if p.name in fixed_headers or p.required or p.examples:
            value = as_text(
                fixed_headers.pop(p.name) if p.name in fixed_headers else for_parameter(p)
            )
            if _header_ok(p.name, value):
                headers[p.name] = value
            else:
                warnings.append(f"{op.key}: header parameter {p.name!r} is not sendable; skipped")
    for k, v in fixed_headers.items():
        headers[str(k)] = as_text(v)
    cookies = {
        p.name: as_text(fixed_cookies.pop(p.name) if p.name in fixed_cookies else for_parameter(p))
        for p in op.params("cookie")
        if p.required or p.examples or p.name in fixed_cookies
    }
    cookies.update({str(k): as_text(v) for k, v in fixed_cookies.items()})
    body: Any = None
    body_type: str | None = None
    if op.request_body and op.request_body.content:
        for media_type in BODY_TYPES:
            if media_type in op.request_body.content:
                body_type = media_type
                body = for_media(op.request_body.content[media_type])
                break
        else:
            media_type = next(iter(op.request_body.content))
            if media_type.endswith("+json") or media_type == "*/*":
                body_type = "application/json" if media_type == "*/*" else media_type
                body = for_media(op.request_body.content[media_type])
    if override and override.has_body:
        body = override.body
        body_type = body_type or "application/json"
    if body_type == "application/x-www-form-urlencoded" and isinstance(body, dict):
        body = {str(k): as_text(v) for k, v in body.items()}
    elif body_type == "text/plain" and not isinstance(body, str):
        body = as_text(body)
    expected = list(override.expect) if override and override.expect else []
    return {
        "name": op.key,
        "method": op.method,
        "pathParts": path_parts(op.path),
        "pathValues": path_values,
        "query": query,
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "bodyType": body_type,
        "expected": expected or list(op.success_statuses()),
    }
