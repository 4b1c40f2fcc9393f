"""One request in, one answer out: auth, routing and checks against the spec, then the
action (discover, get, list, watch, create, update, patch, delete, logs)."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]

from testing.fake_kube import openapi_v3, protobuf
from testing.fake_kube import patch as patching
from testing.fake_kube.objects import ApiError, discovery, not_found, success, version_info
from testing.fake_kube.registry import Registry
from testing.fake_kube.schema import drop_nulls
from testing.fake_kube.selectors import SelectorError, field_selector, label_selector
from testing.fake_kube.spec import Match, Operation, Resource
from testing.fake_kube.watch import watch

STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
Logs = Callable[[str, str, str, bool], list[str]]  # (namespace, pod, container, previous)
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")  # Go's time.Duration
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
SERIALIZERS = ("application/json", "application/yaml", PROTOBUF)
# Go's strconv.ParseBool, which the server's query decoding uses
_BOOLEANS = {v: "true" for v in ("1", "t", "T", "TRUE", "true", "True")} | {
    v: "false" for v in ("0", "f", "F", "FALSE", "false", "False")
}


@dataclass
class Reply:
    code: int
    body: Any  # a JSON document, str for text/plain, or bytes already encoded
    content_type: str = "application/json"
    events: Iterator[dict[str, Any]] | None = None  # a watch stream instead of body
    response: str | None = None  # the definition the body must match, if any


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


class Api:
    def __init__(self, registry: Registry, token: str, logs: Logs, host: str) -> None:
        self.registry, self.spec, self.store = registry, registry.spec, registry.store
        self.token, self.logs, self.host = token, logs, host
        self.internal_errors: list[str] = []

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        try:
            reply = self._handle(method, path, query, headers, body)
        except ApiError as err:
            reply = Reply(err.code, err.status(), response=STATUS)
        except Exception as err:  # a bug in the fake: answered as kube would, and kept
            self.internal_errors.append(f"{method} {path}: {err!r}")
            return Reply(500, ApiError(500, "InternalError", "fake API server error").status())
        self._check_answer(method, path, reply)
        return reply

    def _check_answer(self, method: str, path: str, reply: Reply) -> None:
        # the fake answers from the spec: an answer its definition refuses is the fake's bug
        if reply.response and isinstance(reply.body, dict):
            found = self.spec.body_causes(reply.response, reply.body)
            if found:
                self.internal_errors.append(f"{method} {path} answered off-spec: {found}")

    def _handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        given = headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if method == "GET" and (path == "/openapi/v3" or path.startswith("/openapi/v3/")):
            return self._openapi(path, query)
        match = self.spec.match(method, path)
        if match is None:
            if self.spec.allows_path(path):
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        reply = self._act(match, path, self._params(match.op, query), headers, body)
        reply.response = reply.response or match.op.response
        return reply

    def _act(
        self,
        match: Match,
        path: str,
        params: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        op = match.op
        if op.action == "version":
            return Reply(200, version_info())
        if op.action == "discover":
            doc = discovery(self.spec, path, self.host)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return Reply(200, doc)
        assert op.resource is not None
        if op.subresource == "log":
            return self._log(match, params)
        if op.action == "list":
            if params.get("watch") == "true":
                return Reply(200, None, events=self._watch(match, params))
            return Reply(200, self._list(match, params))
        if op.action == "get":
            return Reply(200, self._get(match))
        if op.action == "create":
            return Reply(201, self._create(match, params, headers, body))
        if op.action in ("update", "patch"):
            return self._update(match, params, headers, body)
        if op.action == "delete":
            return Reply(200, self._delete(match, params, headers, body))
        if op.action == "deletecollection":
            for obj in self._select(match, params):
                self.registry.delete(
                    op.resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                )
            return Reply(
                200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
            )
        raise ApiError(405, "MethodNotAllowed", f"action {op.action} is not served")

    def _openapi(self, path: str, query: Mapping[str, str]) -> Reply:
        if set(query) - {"hash", "timeout"}:
            raise _bad(f"unknown query parameters {sorted(set(query) - {'hash', 'timeout'})}")
        if path.rstrip("/") == "/openapi/v3":
            return Reply(200, openapi_v3.index(self.spec))
        data = openapi_v3.document(self.spec, path)
        if data is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Reply(200, data)

    def _params(self, op: Operation, query: Mapping[str, str]) -> dict[str, str]:
        for name, value in query.items():
            if name == "timeout":  # the server's own request timeout, on every path
                if not _DURATION.match(value):
                    raise _bad(f"invalid timeout {value!r}")
                continue
            spec = op.params.get(name)
            if spec is None or spec.get("in") != "query":
                raise _bad(f"unknown query parameter {name!r} for {op.method} {op.template}")
            if spec.get("type") == "integer" and not value.lstrip("-").isdigit():
                raise _bad(f"{name}: invalid integer {value!r}")
            if spec.get("type") == "boolean" and value not in _BOOLEANS:
                raise _bad(f"{name}: invalid boolean {value!r}")
        if query.get("dryRun") not in (None, "All"):
            raise _bad(f"Invalid dry run value {query['dryRun']!r}: only All is supported")
        return {
            k: _BOOLEANS[v] if op.params[k].get("type") == "boolean" else v
            for k, v in query.items()
            if k != "timeout"
        }

    def _ns(self, match: Match) -> str:
        return match.path.get("namespace", "")

    def _get(self, match: Match) -> dict[str, Any]:
        resource = match.op.resource
        assert resource is not None
        obj = self.store.get(resource.key, self._ns(match), match.path["name"])
        if obj is None:
            raise not_found(resource, match.path["name"])
        return self._typed(resource, obj)

    def _typed(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": resource.group_version, "kind": resource.kind, **obj}

    def _select(self, match: Match, params: Mapping[str, str]) -> list[dict[str, Any]]:
        resource = match.op.resource
        assert resource is not None
        keep = self._predicate(resource, params)
        namespace = match.path.get("namespace")
        return [o for o in self.store.objects(resource.key, namespace) if keep(o)]

    def _predicate(
        self, resource: Resource, params: Mapping[str, str]
    ) -> Callable[[dict[str, Any]], bool]:
        try:
            labels = label_selector(params.get("labelSelector", ""))
            fields = field_selector(params.get("fieldSelector", ""), resource.key)
        except SelectorError as err:
            raise _bad(str(err)) from None
        return lambda obj: labels(obj) and fields(obj)

    def _list(self, match: Match, params: Mapping[str, str]) -> dict[str, Any]:
        resource = match.op.resource
        assert resource is not None
        with self.store.lock:
            items = self._select(match, params)
            rv = self.store.resource_version
        if resource.key in self.spec._custom_schemas:
            items = [self._typed(resource, i) for i in items]
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }

    def _watch(self, match: Match, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        resource = match.op.resource
        assert resource is not None
        keep = self._predicate(resource, params)
        namespace = match.path.get("namespace")
        return watch(
            self.store, resource, namespace, params, lambda: self._select(match, params), keep
        )

    def _body(self, op: Operation, headers: Mapping[str, str], body: bytes) -> Any:
        ctype = headers.get("content-type", "application/json").split(";")[0].strip()
        # "*/*" in the spec means the server's serializers; the fake decodes JSON and YAML
        accepted = SERIALIZERS if "*/*" in op.consumes else op.consumes
        if ctype == PROTOBUF and PROTOBUF in accepted:
            try:
                return protobuf.decode(body)
            except protobuf.ProtobufError as err:
                raise ApiError(415, "UnsupportedMediaType", str(err)) from None
        if ctype not in accepted or ctype.endswith(("protobuf", "cbor")):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(accepted)}",
            )
        try:
            decoded = yaml.safe_load(body.decode()) if ctype.endswith("yaml") else json.loads(body)
        except (ValueError, yaml.YAMLError) as err:
            raise _bad(f"the body of the request does not decode: {err}") from None
        # null means "unset" in an object, but "delete" in a merge patch
        return decoded if ctype in MERGE_PATCHES else drop_nulls(decoded)

    def _check(self, resource: Resource, op: Operation, obj: Any, name: str = "") -> None:
        if not isinstance(obj, dict):
            raise _bad("the body of the request is not an object")
        if obj.get("apiVersion") != resource.group_version or obj.get("kind") != resource.kind:
            raise _bad(
                f"the API version in the data ({obj.get('apiVersion')}) "
                f"or kind ({obj.get('kind')}) "
                f"does not match the expected {resource.group_version} {resource.kind}"
            )
        found = self.spec.body_causes(self.spec.definition_for(resource.key), obj)
        if found:
            what = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
            name = name or str(obj.get("metadata", {}).get("name", ""))
            text = ", ".join(c["message"] for c in found)
            raise ApiError(
                422,
                "Invalid",
                f'{what} "{name}" is invalid: {text}',
                resource=resource,
                name=name,
                causes=found,
            )

    def _create(
        self, match: Match, params: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        op, resource = match.op, match.op.resource
        assert resource is not None
        obj = self._body(op, headers, body)
        self._check(resource, op, obj)
        self._same_namespace(match, obj)
        if self.spec.has_status(resource.key):
            obj.pop("status", None)  # set by controllers only, as with a status subresource
        stored = self.registry.create(
            resource, self._ns(match), obj, dry_run=params.get("dryRun") == "All"
        )
        return self._typed(resource, stored)

    def _same_namespace(self, match: Match, obj: dict[str, Any]) -> None:
        given = obj.get("metadata", {}).get("namespace")
        if given and "namespace" in match.path and given != match.path["namespace"]:
            raise _bad(
                "the namespace of the provided object does not match "
                "the namespace sent on the request"
            )

    def _update(
        self, match: Match, params: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Reply:
        op, resource = match.op, match.op.resource
        assert resource is not None
        name, namespace = match.path["name"], self._ns(match)
        ctype = headers.get("content-type", "").split(";")[0].strip()
        with self.store.lock:
            current = self.store.get(resource.key, namespace, name)
            incoming = self._body(op, headers, body)
            created = False
            if op.action == "update":
                if current is None:
                    raise not_found(resource, name)
                new = incoming
                wanted = (
                    (incoming.get("metadata") or {}).get("resourceVersion")
                    if isinstance(incoming, dict)
                    else None
                )
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    what = (
                        f"{resource.plural}.{resource.group}" if resource.group else resource.plural
                    )
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {what} "{name}": the object has '
                        "been modified; please apply your changes to the latest version "
                        "and try again",
                        resource=resource,
                        name=name,
                    )
            elif ctype == "application/apply-patch+yaml":
                if not params.get("fieldManager"):
                    raise _bad("fieldManager is required for apply requests")
                if current is None:
                    if op.subresource:
                        raise not_found(resource, name)
                    created = True
                    new = incoming
                else:
                    new = patching.apply(self._typed(resource, current), incoming)
            else:
                if current is None:
                    raise not_found(resource, name)
                base = self._typed(resource, current)
                try:
                    if ctype == "application/merge-patch+json":
                        new = patching.merge_patch(base, incoming)
                    elif ctype == "application/strategic-merge-patch+json":
                        new = patching.strategic_merge(base, incoming)
                    else:
                        new = patching.json_patch(base, incoming)
                except (patching.PatchError, LookupError, ValueError, TypeError) as err:
                    raise ApiError(422, "Invalid", f"the patch cannot be applied: {err}") from None
                new = drop_nulls(new)
            self._check(resource, op, new, name)
            self._same_namespace(match, new)
            if new.get("metadata", {}).get("name", name) != name:
                raise _bad("the name of the object does not match the name on the URL")
            if params.get("dryRun") == "All":
                return Reply(200, self._typed(resource, new))
            if created:
                return Reply(
                    201, self._typed(resource, self.registry.create(resource, namespace, new))
                )
            new.setdefault("metadata", {})["namespace"] = namespace
            if not namespace:
                new["metadata"].pop("namespace")
            stored = self.registry.replace(resource, new, status_only=op.subresource == "status")
        return Reply(200, self._typed(resource, stored))

    def _delete(
        self, match: Match, params: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        op, resource = match.op, match.op.resource
        assert resource is not None
        options: Any = self._body(op, headers, body) if body.strip() else {}
        found = self.spec.body_causes(op.body, options) if op.body and options else []
        if found or not isinstance(options, dict):
            text = ", ".join(c["message"] for c in found) or "not an object"
            raise ApiError(422, "Invalid", f"DeleteOptions is invalid: {text}", causes=found)
        policy = params.get("propagationPolicy") or options.get("propagationPolicy")
        if params.get("dryRun") == "All":
            return self._get(match)
        gone = self.registry.delete(
            resource, self._ns(match), match.path["name"], orphan=policy == "Orphan"
        )
        if op.response and op.response.endswith(".meta.v1.Status"):
            return success(resource, gone)
        return self._typed(resource, gone)

    def _log(self, match: Match, params: Mapping[str, str]) -> Reply:
        pod = self._get(match)
        names = [c["name"] for c in pod["spec"].get("containers", [])]
        container = params.get("container") or (names[0] if len(names) == 1 else "")
        name = match.path["name"]
        if not container:
            raise _bad(
                f"a container name must be specified for pod {name}, "
                f"choose one of: [{' '.join(names)}]"
            )
        if container not in names:
            raise _bad(f"container {container} is not valid for pod {name}")
        lines = self.logs(self._ns(match), name, container, params.get("previous") == "true")
        tail = params.get("tailLines")
        if tail is not None:
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        return Reply(200, "".join(line + "\n" for line in lines), "text/plain")
