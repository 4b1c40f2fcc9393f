"""The fake cluster's objects, one resourceVersion counter, and the event log watches read.

Objects are JSON dicts keyed by (resource key, namespace, name); namespace is "" for
cluster-scoped ones. Every write gets the next resourceVersion and an event
(ADDED, MODIFIED, DELETED) that watches started at an older version receive.
``lock`` is re-entrant: a handler holds it across read-modify-write.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Change:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str  # resource key, e.g. apps/v1/deployments
    namespace: str
    obj: dict[str, Any]


class Store:
    def __init__(self) -> None:
        self.lock = threading.Condition(threading.RLock())
        self._objects: dict[Key, dict[str, Any]] = {}
        self._changes: list[Change] = []
        self._rv = 0
        self.closed = False

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects.get((resource, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the objects of ``resource`` (in ``namespace``, or all), by name."""
        with self.lock:
            found = [
                copy.deepcopy(obj)
                for (res, ns, _), obj in sorted(self._objects.items())
                if res == resource and (namespace is None or ns == namespace)
            ]
        return found

    def in_namespace(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [
                (res, copy.deepcopy(obj))
                for (res, ns, _), obj in sorted(self._objects.items())
                if ns == namespace
            ]

    def put(self, resource: str, obj: dict[str, Any], change: str) -> dict[str, Any]:
        """Store ``obj`` with the next resourceVersion; returns a copy as stored."""
        with self.lock:
            self._rv += 1
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self._rv)
            namespace = meta.get("namespace", "")
            stored = copy.deepcopy(obj)
            self._objects[(resource, namespace, meta["name"])] = stored
            self._changes.append(Change(self._rv, change, resource, namespace, stored))
            self.lock.notify_all()
            return copy.deepcopy(stored)

    def remove(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self._objects.pop((resource, namespace, name), None)
            if obj is None:
                return None
            self._rv += 1
            gone = copy.deepcopy(obj)
            gone["metadata"]["resourceVersion"] = str(self._rv)
            self._changes.append(Change(self._rv, "DELETED", resource, namespace, gone))
            self.lock.notify_all()
            return copy.deepcopy(gone)

    def changes_after(
        self, resource: str, namespace: str | None, rv: int, deadline: float
    ) -> list[Change]:
        """Changes to ``resource`` newer than ``rv``; waits until one comes, the store
        closes or ``deadline`` (time.monotonic()) passes, then returns what there is."""
        with self.lock:
            while True:
                found = [
                    c
                    for c in self._changes
                    if c.rv > rv
                    and c.resource == resource
                    and (namespace is None or c.namespace == namespace)
                ]
                left = deadline - time.monotonic()
                if found or self.closed or left <= 0:
                    return found
                self.lock.wait(min(left, 0.5))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.lock.notify_all()
