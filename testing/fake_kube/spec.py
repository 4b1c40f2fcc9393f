"""The cut Kubernetes OpenAPI description as routes, validators and discovery documents.

``KubeSpec.match(method, path)`` finds the swagger operation a request names (or None:
the fake answers 404); ``KubeSpec.body_causes`` checks a body strictly against the
operation's definition. Custom resources (``add_custom_resource``) get the operations a
real server publishes for a CRD, with the parameters of the built-in Deployment paths.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from testing.fake_kube.schema import causes, strict_definitions
from testing.paths import ROOT

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
SWAGGER = ROOT / "tests" / "data" / "kubernetes" / "swagger.json"


@dataclass(frozen=True)
class Resource:
    """One kind of object: ``key`` (``apps/v1/deployments``) names it in the store."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group_version}/{self.plural}"


@dataclass(frozen=True)
class Operation:
    """One method on one path template; ``action`` is swagger's x-kubernetes-action
    (get, list, watch, create, update, patch, delete, deletecollection) or
    ``discover``/``version`` for the documents the fake builds."""

    method: str
    template: str
    action: str
    resource: Resource | None
    subresource: str
    params: dict[str, dict[str, Any]]
    body: str | None  # definition name (or custom resource key) the body must match
    consumes: tuple[str, ...]
    response: str | None  # definition name of the 200 answer, if an object
    regex: re.Pattern[str] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Match:
    op: Operation
    path: dict[str, str]  # path parameters: namespace, name


def _regex(template: str) -> re.Pattern[str]:
    body = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template.rstrip("/")))
    return re.compile(f"^{body}/?$")


def _ref_name(schema: Any) -> str | None:
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        return str(schema["$ref"]).rsplit("/", 1)[1]
    return None


class KubeSpec:
    """Routes and strict validators from one swagger document (see the module doc)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.definitions: dict[str, Any] = strict_definitions(doc["definitions"])
        self.operations: list[Operation] = []
        self.resources: dict[str, Resource] = {}
        self._custom_schemas: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        for template, item in doc["paths"].items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method != "parameters":
                    self._add(template, method.upper(), op, shared)
        self._sort()

    def _resolve(self, param: dict[str, Any]) -> dict[str, Any]:
        ref = param.get("$ref")
        if isinstance(ref, str):
            resolved: dict[str, Any] = self.doc["parameters"][ref.rsplit("/", 1)[1]]
            return resolved
        return param

    def _add(self, template: str, method: str, op: dict[str, Any], shared: list[Any]) -> None:
        params = {p["name"]: p for p in map(self._resolve, [*shared, *op.get("parameters", [])])}
        gvk = op.get("x-kubernetes-group-version-kind")
        action = op.get("x-kubernetes-action") or (
            "version" if template == "/version/" else "discover"
        )
        action = {"post": "create", "put": "update"}.get(action, action)  # discovery's verbs
        resource = None
        subresource = ""
        if gvk:
            rest = template.split(f"/{gvk['version']}/", 1)[1].split("/")
            namespaced = rest[0] == "namespaces" and len(rest) > 2 and rest[1] == "{namespace}"
            parts = rest[2:] if namespaced else rest
            plural = parts[0]
            subresource = parts[2] if len(parts) > 2 else ""
            resource = self.resources.get(
                f"{gvk['group'] + '/' if gvk['group'] else ''}{gvk['version']}/{plural}"
            )
            if resource is None or namespaced:
                resource = Resource(gvk["group"], gvk["version"], gvk["kind"], plural, namespaced)
                self.resources[resource.key] = resource
        body = next((p for p in params.values() if p.get("in") == "body"), None)
        body_def = _ref_name(body["schema"]) if body else None
        ok = op.get("responses", {}).get("200", {}).get("schema")
        self.operations.append(
            Operation(
                method=method,
                template=template,
                action=action,
                resource=resource,
                subresource=subresource,
                params=params,
                body=body_def,
                consumes=tuple(op.get("consumes", ())),
                response=_ref_name(ok),
                regex=_regex(template),
            )
        )

    def _sort(self) -> None:
        # one Resource per key (a cluster-wide list path seen first said namespaced=False)
        self.operations = [
            replace(o, resource=self.resources[o.resource.key]) if o.resource else o
            for o in self.operations
        ]
        # literal segments first, so /namespaces/{name}/status never shadows a resource path
        self.operations.sort(key=lambda o: (o.template.count("{"), o.template))

    def add_custom_resource(self, resource: Resource, schema: dict[str, Any]) -> None:
        """Serve ``resource`` (namespaced) as a CRD with a status subresource would be,
        validating bodies against ``schema`` (a strict JSON Schema of the whole object)."""
        self.resources[resource.key] = resource
        self._custom_schemas[resource.key] = schema
        like = "/apis/apps/v1/namespaces/{namespace}/deployments"
        prefix = f"/apis/{resource.group_version}"
        item = f"{prefix}/namespaces/{{namespace}}/{resource.plural}/{{name}}"
        mapping = {
            like: f"{prefix}/namespaces/{{namespace}}/{resource.plural}",
            like + "/{name}": item,
            like + "/{name}/status": item + "/status",
            "/apis/apps/v1/deployments": f"{prefix}/{resource.plural}",
        }
        mapping["/apis/apps/"] = f"/apis/{resource.group}/"
        mapping["/apis/apps/v1/"] = f"{prefix}/"
        for op in [o for o in self.operations if o.template in mapping]:
            template = mapping[op.template]
            self.operations.append(
                Operation(
                    method=op.method,
                    template=template,
                    action=op.action,
                    resource=resource if op.action != "discover" else None,
                    subresource=op.subresource,
                    params=op.params,
                    body=resource.key if op.body else None,
                    consumes=op.consumes,
                    response=None,
                    regex=_regex(template),
                )
            )
        self._sort()

    @property
    def custom_keys(self) -> frozenset[str]:
        return frozenset(self._custom_schemas)

    def match(self, method: str, path: str) -> Match | None:
        for op in self.operations:
            if op.method == method:
                found = op.regex.match(path)
                if found:
                    return Match(op, found.groupdict())
        return None

    def allows_path(self, path: str) -> bool:
        return any(op.regex.match(path) for op in self.operations)

    def validator(self, name: str) -> jsonschema.protocols.Validator:
        if name not in self._validators:
            if name in self._custom_schemas:
                self._validators[name] = jsonschema.Draft7Validator(self._custom_schemas[name])
            else:
                schema = {"$ref": f"#/definitions/{name}", "definitions": self.definitions}
                self._validators[name] = jsonschema.Draft4Validator(schema)
        return self._validators[name]

    def body_causes(self, name: str, body: Any) -> list[dict[str, str]]:
        """``[]`` when ``body`` matches definition ``name`` strictly, else Status causes.

        A custom resource's metadata is checked as the server checks it, against
        ObjectMeta; the CRD's own schema sees only the metadata fields it declares."""
        if name not in self._custom_schemas or not isinstance(body, dict):
            return causes(self.validator(name), body)
        meta = body.get("metadata")
        declared = self._custom_schemas[name].get("properties", {}).get("metadata", {})
        keep = declared.get("properties")
        trimmed = dict(body)
        if isinstance(meta, dict) and keep is not None:
            trimmed["metadata"] = {k: v for k, v in meta.items() if k in keep}
        found = causes(self.validator(name), trimmed)
        if isinstance(meta, dict):
            for cause in causes(self.validator(OBJECT_META), meta):
                field = f"metadata.{cause['field']}" if cause["field"] else "metadata"
                found.append(dict(cause, field=field))
        return found

    def definition_for(self, key: str) -> str:
        """The name ``body_causes`` checks a whole ``key`` object against."""
        if key in self._custom_schemas:
            return key
        for op in self.operations:
            if op.resource and op.resource.key == key and op.action == "create" and op.body:
                return op.body
        raise KeyError(key)

    def has_status(self, key: str) -> bool:
        return any(
            o.resource and o.resource.key == key and o.subresource == "status"
            for o in self.operations
        )

    def resource_for(self, key: str) -> Resource:
        return self.resources[key]

    def kind_resource(self, api_version: str, kind: str) -> Resource | None:
        for resource in self.resources.values():
            if resource.group_version == api_version and resource.kind == kind:
                return resource
        return None


@cache
def builtin_doc(path: Path = SWAGGER) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc
