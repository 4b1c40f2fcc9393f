"""A PUT or PATCH that would rename what it updates keeps the resource's identity.

``PUT /users/{username}`` with a generated body ``{"username": "x7", ...}`` renames
the user that setup created: every later read of that user gets 404, and the
run measures error pages (issue 17, item 5: RESTler's "destructive" operations
are DELETE and the PUT/PATCH that change identity). A real client sends the
identity it addresses, so the body's identity field is filled at run time with
the id the path names: the update acts on the resource and leaves it findable.

The body field that holds the identity: a top-level property of the JSON body
named like the path parameter (``username``; ``petId``; ``pet_id`` and ``id`` for
``{petId}``; ``slug``/``name`` only when the parameter is so named). The body
keeps a marker string there; the script replaces it (``identity`` in the plan).
"""

from __future__ import annotations

import json
from typing import Any

from plog_ci.loadgen.links import param_stem
from plog_ci.openapi.model import Operation

MARKER = "__plog_identity__"


def identity_names(param: str) -> tuple[str, ...]:
    """Body property names that name the resource ``{param}`` addresses, most telling
    first."""
    stem = param_stem(param)
    names = [param]
    if stem and stem != param:
        names += [f"{stem}_id", f"{stem}Id", "id", "_id", "uuid"]
    elif param.lower() in ("id", "uuid"):
        names += ["id", "_id", "uuid"]
    return tuple(dict.fromkeys(names))


def keep_identity(op: Operation, plan: dict[str, Any], param: str) -> None:
    """Mark ``plan``'s JSON body so that the script writes the id of ``{param}`` into
    its identity field (``plan["identity"]``: the marker's JSON text, whether the
    field held a number, and the generated value's JSON text for when no id came
    from setup). Nothing changes for other methods, data-file rows, non-JSON
    bodies, or a body that names no identity."""
    if op.method not in ("PUT", "PATCH") or plan.get("rows") or not plan.get("body"):
        return
    content_type = str(plan.get("contentType") or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return
    try:
        body = json.loads(plan["body"])
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    field = next((n for n in identity_names(param) if n in body), None)
    if field is None or isinstance(body[field], dict | list):
        return
    original = body[field]
    body[field] = MARKER
    plan["body"] = json.dumps(body, ensure_ascii=False)
    plan["identity"] = {
        "param": param,
        "marker": json.dumps(MARKER),
        "numeric": isinstance(original, int | float) and not isinstance(original, bool),
        "fallback": json.dumps(original, ensure_ascii=False),
    }
