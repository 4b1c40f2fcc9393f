"""Watch streams as the API server sends them: initial ADDED events (for a watch from
"now" or a watch-list), the watch-list's end bookmark, then every change after the
starting resourceVersion that the selectors keep, until ``timeoutSeconds`` or shutdown."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from testing.fake_kube.objects import ApiError
from testing.fake_kube.spec import Resource
from testing.fake_kube.store import Store

WATCH_DEFAULT_S = 1800.0
Event = dict[str, Any]  # {"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": {...}}


def watch(
    store: Store,
    resource: Resource,
    namespace: str | None,
    params: Mapping[str, str],
    select: Callable[[], list[dict[str, Any]]],
    keep: Callable[[dict[str, Any]], bool],
) -> Iterator[Event]:
    """The events of one watch request (``params`` its query); raises ApiError for a
    request the server refuses. ``select`` lists the objects matching now."""
    deadline = time.monotonic() + float(params.get("timeoutSeconds") or WATCH_DEFAULT_S)
    since = params.get("resourceVersion", "")
    watch_list = params.get("sendInitialEvents") == "true"
    if watch_list and (
        params.get("resourceVersionMatch") != "NotOlderThan"
        or params.get("allowWatchBookmarks") != "true"
    ):
        raise ApiError(
            422,
            "Invalid",
            "sendInitialEvents requires resourceVersionMatch=NotOlderThan "
            "and allowWatchBookmarks=true",
        )
    if since and not since.isdigit():
        raise ApiError(400, "BadRequest", f"invalid resourceVersion {since!r}")
    initial: list[dict[str, Any]] = []
    with store.lock:
        if since in ("", "0") or watch_list:
            initial = select()
            rv = store.resource_version
        else:
            rv = int(since)

    def typed(obj: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": resource.group_version, "kind": resource.kind, **obj}

    def stream() -> Iterator[Event]:
        last = rv
        for obj in initial:
            yield {"type": "ADDED", "object": typed(obj)}
        if watch_list:
            end = {"k8s.io/initial-events-end": "true"}
            mark = {"resourceVersion": str(rv), "annotations": end}
            yield {"type": "BOOKMARK", "object": typed({"metadata": mark})}
        while time.monotonic() < deadline and not store.closed:
            for change in store.changes_after(resource.key, namespace, last, deadline):
                last = change.rv
                if keep(change.obj):
                    yield {"type": change.type, "object": typed(change.obj)}

    return stream()
