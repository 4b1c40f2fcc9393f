"""The OpenAPI v3 documents a server publishes (``/openapi/v3`` and one per group-version),
converted from the cut swagger 2.0 description; client-go reads them to learn that the
server validates fields itself (``fieldValidation`` on PATCH), so Helm's SDK sends
``fieldValidation=Strict`` instead of validating client-side.

Conversion: ``#/definitions/X`` -> ``#/components/schemas/X``; a body parameter -> a
``requestBody``; other parameters get their ``type`` under ``schema``; response schemas
go under ``content["application/json"]``. Nothing is added that the swagger lacks.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from testing.fake_kube.spec import KubeSpec


def _refs_to_v3(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _refs_to_v3(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            out["$ref"] = "#/components/schemas/" + ref.split("/", 2)[2]
        return out
    if isinstance(node, list):
        return [_refs_to_v3(v) for v in node]
    return node


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: param[k] for k in ("name", "in", "required", "description") if k in param
    }
    out["schema"] = {k: param[k] for k in ("type", "uniqueItems") if k in param}
    return out


def _operation(doc: dict[str, Any], op: dict[str, Any], shared: list[Any]) -> dict[str, Any]:
    def resolve(param: dict[str, Any]) -> dict[str, Any]:
        ref = param.get("$ref")
        found: dict[str, Any] = doc["parameters"][ref.rsplit("/", 1)[1]] if ref else param
        return found

    params = [resolve(p) for p in [*shared, *op.get("parameters", [])]]
    out: dict[str, Any] = {
        k: v for k, v in op.items() if k.startswith("x-kubernetes-") or k in ("operationId", "tags")
    }
    out["parameters"] = [_parameter(p) for p in params if p["in"] != "body"]
    body = next((p for p in params if p["in"] == "body"), None)
    if body is not None:
        consumes = [c for c in op.get("consumes", ["application/json"]) if c != "*/*"]
        out["requestBody"] = {
            "content": {c: {"schema": _refs_to_v3(body["schema"])} for c in consumes or ["*/*"]},
            "required": bool(body.get("required")),
        }
    responses: dict[str, Any] = {}
    for code, answer in op.get("responses", {}).items():
        entry: dict[str, Any] = {"description": answer.get("description", "")}
        if "schema" in answer:
            entry["content"] = {"application/json": {"schema": _refs_to_v3(answer["schema"])}}
        responses[code] = entry
    out["responses"] = responses
    return out


def _prefix(group_version: str) -> str:
    return "/api/v1/" if group_version == "v1" else f"/apis/{group_version}/"


@cache
def _documents(spec_id: int, spec: KubeSpec) -> dict[str, bytes]:
    doc = spec.doc
    schemas = _refs_to_v3(doc["definitions"])
    out: dict[str, bytes] = {}
    versions = {r.group_version for r in spec.resources.values() if r.key not in spec.custom_keys}
    for gv in sorted(versions):
        paths: dict[str, Any] = {}
        for template, item in doc["paths"].items():
            if not template.startswith(_prefix(gv)) or template == _prefix(gv):
                continue
            shared = item.get("parameters", [])
            paths[template] = {
                method: _operation(doc, op, shared)
                for method, op in item.items()
                if method != "parameters"
            }
        v3 = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": paths,
            "components": {"schemas": schemas},
        }
        out[gv] = json.dumps(v3).encode()
    return out


def index(spec: KubeSpec) -> dict[str, Any]:
    """``GET /openapi/v3``: each group-version's document and its content hash."""
    docs = _documents(id(spec), spec)
    paths = {}
    for gv, data in docs.items():
        path = "api/v1" if gv == "v1" else f"apis/{gv}"
        digest = hashlib.sha512(data).hexdigest().upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def document(spec: KubeSpec, path: str) -> bytes | None:
    """``GET /openapi/v3/<api/v1 | apis/G/V>``, or None for another path."""
    rest = path.removeprefix("/openapi/v3/").strip("/")
    gv = "v1" if rest == "api/v1" else rest.removeprefix("apis/")
    if not rest.startswith(("api/", "apis/")):
        return None
    return _documents(id(spec), spec).get(gv)
