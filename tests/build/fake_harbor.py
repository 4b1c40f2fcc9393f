"""A fake Harbor for httpx.MockTransport that holds every request to Harbor's published
API description (tests/data/harbor/swagger.yaml, loaded by plog_ci.openapi) and
every answer too.

A request is matched to one operation by method and path template under
``basePath``; its query parameters must be declared, its path, query, header and
body values must fit their schemas, and an Authorization header must be Basic. An
answer's status must be documented for the operation (401 from Harbor's auth
layer excepted: the description declares basic security globally) and its body
must fit the documented schema, with no property the schema does not declare.
Anything else raises AssertionError (and is kept in ``violations``), so the test
fails even if the client swallowed the error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import jsonschema

from plog_ci.openapi.load import load_spec_file
from plog_ci.openapi.model import MediaType, Operation, Parameter, Response, Spec

SWAGGER = Path(__file__).resolve().parent.parent / "data" / "harbor" / "swagger.yaml"
REPORT_MIME = "application/vnd.security.vulnerability.report; version=1.1"


def load_harbor_spec() -> Spec:
    return load_spec_file(SWAGGER, root=SWAGGER.parent)


@dataclass
class Artifact:
    """An artifact's scan overviews, one per GET (the last repeats): None is no scan.
    ``after_scan``: the overviews from the moment a scan is asked for (None: unchanged)."""

    overviews: list[dict[str, Any] | None] = field(default_factory=lambda: [None])
    reads: int = 0
    after_scan: list[dict[str, Any] | None] | None = None


class FakeHarbor:
    def __init__(self, spec: Spec, username: str, password: str) -> None:
        self.spec = spec
        self.username = username
        self.password = password
        self.projects: set[str] = set()
        self.artifacts: dict[tuple[str, str, str], Artifact] = {}
        self.scans_started: list[tuple[str, str, str]] = []
        self.violations: list[str] = []
        self.calls: list[str] = []  # operationIds, in order
        self.fail_with: int | None = None  # answer every request with this status

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- the description's side -----------------------------------------------------

    def _violation(self, text: str) -> AssertionError:
        self.violations.append(text)
        return AssertionError(f"request or answer off Harbor's description: {text}")

    def match(self, request: httpx.Request) -> tuple[Operation, dict[str, str]]:
        raw = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        base = self.spec.base_path
        if not raw.startswith(base + "/"):
            raise self._violation(f"{raw} is not under {base}")
        segments = raw[len(base) :].split("/")
        best: tuple[int, Operation, dict[str, str]] | None = None
        for op in self.spec.operations.values():
            if op.method != request.method:
                continue
            template = op.path.split("/")
            if len(template) != len(segments):
                continue
            values, literal = {}, 0
            for want, got in zip(template, segments, strict=True):
                if want.startswith("{") and want.endswith("}"):
                    # Harbor routes on the decoded path: an encoded "/" splits it.
                    if not got or "/" in unquote(got):
                        break
                    values[want[1:-1]] = unquote(got)
                elif want == got:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, op, values)
        if best is None:
            raise self._violation(f"no operation {request.method} {raw}")
        return best[1], best[2]

    def _check_value(self, op: Operation, param: Parameter, text: str) -> None:
        schema = param.schema or {}
        value: Any = text
        kind = schema.get("type")
        try:
            if kind == "boolean":
                if text not in ("true", "false"):
                    raise ValueError(text)
                value = text == "true"
            elif kind == "integer":
                value = int(text)
        except ValueError:
            raise self._violation(f"{op.key}: {param.name}={text!r} is no {kind}") from None
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            raise self._violation(f"{op.key}: {param.name}: {exc.message}") from None

    def check_request(self, request: httpx.Request) -> tuple[Operation, dict[str, str]]:
        op, path_values = self.match(request)
        for param in op.params("path"):
            self._check_value(op, param, path_values[param.name])
        declared = {p.name: p for p in op.params("query")}
        for name, value in request.url.params.multi_items():
            if name not in declared:
                raise self._violation(f"{op.key}: query parameter {name!r} is not declared")
            self._check_value(op, declared[name], value)
        for param in op.parameters:
            present = (
                param.name in request.url.params
                if param.location == "query"
                else param.name in request.headers
                if param.location == "header"
                else True
            )
            if param.required and not present:
                raise self._violation(f"{op.key}: required {param.location} {param.name} missing")
            if param.location == "header" and present:
                self._check_value(op, param, request.headers[param.name])
        self._check_body(op, request)
        auth = request.headers.get("Authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if scheme != "Basic" or ":" not in decoded:
                raise self._violation(f"{op.key}: Authorization is not HTTP Basic")
        return op, path_values

    def _check_body(self, op: Operation, request: httpx.Request) -> None:
        body = request.content
        if not body:
            if op.request_body is not None and op.request_body.required:
                raise self._violation(f"{op.key}: the body is required")
            return
        if op.request_body is None:
            raise self._violation(f"{op.key}: takes no body")
        media = request.headers.get("Content-Type", "").split(";")[0].strip()
        if media not in op.request_body.content:
            raise self._violation(f"{op.key}: body of type {media!r} is not accepted")
        schema = op.request_body.content[media].schema or {}
        try:
            jsonschema.validate(json.loads(body), schema)
        except (ValueError, jsonschema.ValidationError) as exc:
            raise self._violation(f"{op.key}: body: {getattr(exc, 'message', exc)}") from None

    def answer(self, op: Operation, status: int, body: Any = None) -> httpx.Response:
        documented = op.responses.get(str(status))
        if documented is None and status == 401:  # Harbor's auth layer, before any handler
            documented = op.responses.get("401") or _global_401(self.spec)
        if documented is None:
            raise self._violation(f"{op.key}: answers {status}, which it does not document")
        media = documented.content.get("application/json")
        if media is None or media.schema is None:
            if body is not None:
                raise self._violation(f"{op.key}: {status} has no body in the description")
            return httpx.Response(status, headers={"X-Request-Id": "fake"})
        try:
            jsonschema.validate(body, media.schema)
        except jsonschema.ValidationError as exc:
            raise self._violation(f"{op.key}: answer {status}: {exc.message}") from None
        _only_declared(body, media.schema, f"{op.key}: answer {status}", self._violation)
        return httpx.Response(status, json=body, headers={"X-Request-Id": "fake"})

    # -- Harbor's side -----------------------------------------------------------------

    def _authorized(self, request: httpx.Request) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return bool(request.headers.get("Authorization") == f"Basic {expected}")

    def handle(self, request: httpx.Request) -> httpx.Response:
        op, values = self.check_request(request)
        self.calls.append(op.operation_id or op.key)
        if self.fail_with is not None:
            return self.answer(op, self.fail_with, _errors("FAILED", "fake failure"))
        if request.headers.get("Authorization") is not None and not self._authorized(request):
            return self.answer(op, 401, _errors("UNAUTHORIZED", "unauthorized"))
        if op.operation_id == "headProject":
            found = request.url.params["project_name"] in self.projects
            return (
                self.answer(op, 200) if found else self.answer(op, 404, _errors("NOT_FOUND", "no"))
            )
        if not self._authorized(request):  # the projects here are private
            return self.answer(op, 401, _errors("UNAUTHORIZED", "unauthorized"))
        # repository_name is URL-encoded twice: the path decoded it once.
        key = (values.get("project_name", ""), unquote(values.get("repository_name", "")),
               values.get("reference", ""))  # fmt: skip
        artifact = self.artifacts.get(key)
        if artifact is None:
            return self.answer(op, 404, _errors("NOT_FOUND", f"artifact {key} not found"))
        if op.operation_id == "getArtifact":
            return self.answer(op, 200, self._artifact(key, artifact, request.url.params))
        if op.operation_id == "scanArtifact":
            self.scans_started.append(key)
            if artifact.after_scan is not None:
                artifact.overviews, artifact.reads = list(artifact.after_scan), 0
            return self.answer(op, 202)
        raise self._violation(f"the fake does not implement {op.key}")

    def _artifact(
        self, key: tuple[str, str, str], artifact: Artifact, params: Mapping[str, str]
    ) -> dict[str, Any]:
        overview = artifact.overviews[min(artifact.reads, len(artifact.overviews) - 1)]
        artifact.reads += 1
        body: dict[str, Any] = {
            "id": 7,
            "type": "IMAGE",
            "media_type": "application/vnd.oci.image.config.v1+json",
            "manifest_media_type": "application/vnd.oci.image.manifest.v1+json",
            "project_id": 1,
            "repository_id": 3,
            "digest": key[2],
            "size": 49_000_000,
            "push_time": "2026-01-02T03:04:05.000Z",
        }
        if params.get("with_scan_overview") == "true" and overview is not None:
            body["scan_overview"] = {REPORT_MIME: overview}
        return body


def scan_report(status: str, counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    """A NativeReportSummary: ``status`` and vulnerabilities by severity ("Critical": 2)."""
    report: dict[str, Any] = {
        "report_id": "5f62c830-f996-11e9-957f-0242c0a89008",
        "scan_status": status,
        "complete_percent": 100 if status == "Success" else 40,
        "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.1"},
    }
    if counts is not None:
        worst = next((s for s in ("Critical", "High", "Medium", "Low") if counts.get(s)), "None")
        report["severity"] = worst
        report["summary"] = {"total": sum(counts.values()), "fixable": 1, "summary": dict(counts)}
    return report


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def _global_401(spec: Spec) -> Response:
    """The description's ``responses/401`` (Errors), for operations that omit it."""
    schema = spec.raw["definitions"]["Errors"]
    errors = {"type": "object", "properties": {"errors": {"type": "array", "items":
              spec.raw["definitions"]["Error"]}}}  # fmt: skip
    assert set(schema["properties"]) == {"errors"}
    return Response(
        "401", "Unauthorized", {"application/json": MediaType("application/json", errors)}
    )


def _only_declared(value: Any, schema: Mapping[str, Any], where: str, fail: Any) -> None:
    """No property a schema with ``properties`` does not declare (Harbor's schemas leave
    additionalProperties open: a misspelt field would pass jsonschema)."""
    if isinstance(value, dict) and "properties" in schema:
        for name, item in value.items():
            if name not in schema["properties"]:
                raise fail(f"{where}: property {name!r} is not in the description")
            _only_declared(item, schema["properties"][name], f"{where}.{name}", fail)
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for name, item in value.items():
            _only_declared(item, schema["additionalProperties"], f"{where}.{name}", fail)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _only_declared(item, schema["items"], f"{where}[]", fail)
