"""Writes as the API server makes them: create/replace/delete with the server's checks,
namespace termination, owner-reference garbage collection, and listeners (the
simulated control plane) told of every change."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from testing.fake_kube.objects import ApiError, fill_metadata, not_found, now
from testing.fake_kube.spec import KubeSpec, Resource
from testing.fake_kube.store import Store

Listener = Callable[
    [Resource, str, dict[str, Any]], None
]  # (resource, ADDED|MODIFIED|DELETED, obj)
NAMESPACES = "v1/namespaces"


def _sans(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Registry:
    def __init__(self, spec: KubeSpec, store: Store, namespace_delete_delay: float) -> None:
        self.spec, self.store = spec, store
        self.namespace_delete_delay = namespace_delete_delay
        self.listeners: list[Listener] = []
        self._timers: list[threading.Timer] = []

    def _tell(self, resource: Resource, change: str, obj: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(resource, change, obj)

    def check_namespace(self, namespace: str) -> None:
        """Raise unless objects can be created in ``namespace`` now."""
        ns = self.store.get(NAMESPACES, "", namespace)
        if ns is None:
            raise not_found(self.spec.resource_for(NAMESPACES), namespace)
        if ns.get("status", {}).get("phase") == "Terminating":
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )

    def create(
        self, resource: Resource, namespace: str, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Store a new object (metadata filled in); AlreadyExists, NotFound namespace."""
        obj = copy.deepcopy(obj)
        with self.store.lock:
            if resource.namespaced:
                self.check_namespace(namespace)
            fill_metadata(obj, namespace if resource.namespaced else "")
            name = obj["metadata"].get("name")
            if not name:
                raise ApiError(
                    422,
                    "Invalid",
                    "metadata.name: Required value: name or generateName is required",
                    resource=resource,
                    causes=[
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value",
                            "field": "metadata.name",
                        }
                    ],
                )
            if self.store.get(resource.key, obj["metadata"].get("namespace", ""), name):
                what = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{what} "{name}" already exists',
                    resource=resource,
                    name=name,
                )
            if resource.key == NAMESPACES:
                obj["status"] = {"phase": "Active"}
                obj["spec"] = {"finalizers": ["kubernetes"]}
                obj["metadata"].pop("generation", None)
                obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            if dry_run:
                return obj
            stored = self.store.put(resource.key, obj, "ADDED")
        self._tell(resource, "ADDED", stored)
        return stored

    def replace(
        self, resource: Resource, new: dict[str, Any], *, status_only: bool = False
    ) -> dict[str, Any]:
        """Store ``new`` over the current object: the main resource keeps the current
        status, the status subresource changes only status; generation counts spec changes."""
        meta = new["metadata"]
        with self.store.lock:
            old = self.store.get(resource.key, meta.get("namespace", ""), meta["name"])
            if old is None:
                raise not_found(resource, meta["name"])
            if status_only:
                out = copy.deepcopy(old)
                if "status" in new:
                    out["status"] = new["status"]
            else:
                out = copy.deepcopy(new)
                for key in ("uid", "creationTimestamp", "namespace", "deletionTimestamp"):
                    if key in old["metadata"]:
                        out["metadata"][key] = old["metadata"][key]
                if "status" in old:
                    out["status"] = old["status"]
                else:
                    out.pop("status", None)
                if "generation" in old["metadata"]:
                    bump = _sans(old) != _sans(out)
                    out["metadata"]["generation"] = old["metadata"]["generation"] + bump
            stored = self.store.put(resource.key, out, "MODIFIED")
        self._tell(resource, "MODIFIED", stored)
        return stored

    def delete(
        self, resource: Resource, namespace: str, name: str, *, orphan: bool = False
    ) -> dict[str, Any]:
        """Remove an object and (unless ``orphan``) what it owns; a namespace turns
        Terminating and goes, with its content, after ``namespace_delete_delay`` s."""
        with self.store.lock:
            obj = self.store.get(resource.key, namespace, name)
            if obj is None:
                raise not_found(resource, name)
            if resource.key == NAMESPACES:
                return self._terminate(resource, obj)
            gone = self.store.remove(resource.key, namespace, name)
            assert gone is not None
        self._tell(resource, "DELETED", gone)
        if not orphan:
            self._collect(namespace, gone["metadata"]["uid"])
        return gone

    def _collect(self, namespace: str, uid: str) -> None:
        for key, obj in self.store.in_namespace(namespace):
            owners = obj["metadata"].get("ownerReferences") or []
            if any(o.get("uid") == uid for o in owners):
                try:
                    self.delete(self.spec.resource_for(key), namespace, obj["metadata"]["name"])
                except ApiError:
                    pass  # already gone: another collector got there first

    def _terminate(self, resource: Resource, ns: dict[str, Any]) -> dict[str, Any]:
        if ns["status"].get("phase") == "Terminating":
            return ns
        ns["status"]["phase"] = "Terminating"
        ns["metadata"]["deletionTimestamp"] = now()
        stored = self.store.put(resource.key, ns, "MODIFIED")
        timer = threading.Timer(self.namespace_delete_delay, self._purge, (ns["metadata"]["name"],))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        self._tell(resource, "MODIFIED", stored)
        return stored

    def _purge(self, namespace: str) -> None:
        if self.store.closed:
            return
        for key, obj in self.store.in_namespace(namespace):
            try:
                self.delete(
                    self.spec.resource_for(key), namespace, obj["metadata"]["name"], orphan=True
                )
            except ApiError:
                pass
        gone = self.store.remove(NAMESPACES, "", namespace)
        if gone is not None:
            self._tell(self.spec.resource_for(NAMESPACES), "DELETED", gone)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
