"""What the API server adds to objects and says back: metadata defaults, Status errors,
discovery documents built from the spec's paths."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from testing.fake_kube.spec import KubeSpec, Resource

KUBE_VERSION = {"major": "1", "minor": "36", "gitVersion": "v1.36.0"}


def now() -> str:
    """RFC 3339 UTC, seconds precision, as metav1.Time serialises."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An answer that is a kube ``Status`` failure: ``code`` (HTTP) and ``reason``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        resource: Resource | None = None,
        name: str = "",
        causes: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.resource, self.name, self.causes = resource, name, causes

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.resource is not None:
            details["kind"] = self.resource.plural
            if self.resource.group:
                details["group"] = self.resource.group
        if self.causes:
            details["causes"] = self.causes
        if details:
            out["details"] = details
        return out


def not_found(resource: Resource, name: str) -> ApiError:
    what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return ApiError(404, "NotFound", f'{what} "{name}" not found', resource=resource, name=name)


def success(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    details = {"name": meta.get("name", ""), "kind": resource.plural, "uid": meta.get("uid", "")}
    if resource.group:
        details["group"] = resource.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def fill_metadata(obj: dict[str, Any], namespace: str) -> None:
    """Set what the server sets on create: name (from generateName), uid, time, generation."""
    meta = obj.setdefault("metadata", {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
    if namespace:
        meta["namespace"] = namespace
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    for gone in ("resourceVersion", "deletionTimestamp", "selfLink"):
        meta.pop(gone, None)
    if "spec" in obj:
        meta["generation"] = 1


def discovery(spec: KubeSpec, path: str, host: str) -> dict[str, Any] | None:
    """The document GET ``path`` answers for /api, /api/v1, /apis, /apis/G, /apis/G/V."""
    parts = [p for p in path.split("/") if p]
    versions: dict[str, list[str]] = {}
    for resource in spec.resources.values():
        versions.setdefault(resource.group, [])
        if resource.version not in versions[resource.group]:
            versions[resource.group].append(resource.version)
    cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]
    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs}
    if parts == ["apis"]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(g, v) for g, v in sorted(versions.items()) if g],
        }
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in versions:
        return dict(_group(parts[1], versions[parts[1]]), kind="APIGroup", apiVersion="v1")
    if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
        group_version = "/".join(parts[1:])
        return _resource_list(spec, group_version)
    return None


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def _resource_list(spec: KubeSpec, group_version: str) -> dict[str, Any] | None:
    entries: dict[str, dict[str, Any]] = {}
    for op in spec.operations:
        resource = op.resource
        if resource is None or resource.group_version != group_version:
            continue
        name = resource.plural + (f"/{op.subresource}" if op.subresource else "")
        entry = entries.setdefault(
            name,
            {
                "name": name,
                "singularName": "" if op.subresource else resource.kind.lower(),
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": [],
            },
        )
        verb = op.action
        if op.action == "list" and "watch" in op.params:
            entry["verbs"].append("watch")
        if verb not in entry["verbs"]:
            entry["verbs"].append(verb)
    if not entries:
        return None
    for entry in entries.values():
        entry["verbs"].sort()
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [entries[k] for k in sorted(entries)],
    }


def version_info() -> dict[str, Any]:
    return dict(
        KUBE_VERSION,
        gitCommit="0" * 40,
        gitTreeState="clean",
        buildDate="2026-01-01T00:00:00Z",
        goVersion="go1.25",
        compiler="gc",
        platform="linux/amd64",
    )
