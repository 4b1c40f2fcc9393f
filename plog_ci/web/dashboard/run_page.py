"""One run's page, its data, and its live stream (Server-Sent Events).

Routes (GET only, registered on the dashboard's blueprint):

==============================  ==========================================================
``/runs/<id>``                  the page (``templates/dashboard/run.html.j2``)
``/api/runs/<id>``              what the page shows besides the seconds
                                (``store.run_query.run_detail``)
``/api/runs/<id>/points``       seconds from the start, or ``after`` a cursor: ``{cursor,
                                status, progress, points: [[side, operation, second,
                                count, failures, p50, p90, p95, p99, max], ...]}``;
                                ``op`` (repeatable, at most 25) picks the operations
                                besides the whole run (``*``)
``/runs/<id>/events``           the same seconds as they are written: ``event: points``
                                (``id:`` the cursor, so a browser's reconnection resumes
                                where it stood), ``event: progress``, and ``event: end``
                                with the final status, after which the server closes;
                                ``event: sequence`` (an adaptive run's looks, the
                                stored ``sequence`` document) whenever it changes
==============================  ==========================================================

The stream polls the store (read-only, one connection per stream) every
``POLL_S``: the worker writes a second to SQLite about once a second, so a
browser holds it within about ``POLL_S`` of the write, and no browser ever talks to
the worker or to k6 (issue 18: the dashboard never slows the load generator). A
stream lives at most ``STREAM_S`` (EventSource reconnects by itself with its last
id), and at most ``MAX_STREAMS`` run at once (more are answered 503 with
``Retry-After``), so watchers can never take every server thread from the webhook.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from plog_ci.report.exchanges import exchange_texts
from plog_ci.store.run_query import (
    MAX_OPERATIONS,
    Cursor,
    Points,
    points_after,
    progress,
    run_detail,
    run_operations,
    run_status,
)
from plog_ci.store.runs_query import read_only
from plog_ci.templating import render
from plog_ci.web.dashboard.resources_view import resource_rows

POLL_S = 0.25
STREAM_S = 300.0  # a stream's longest life; the browser reconnects with its last id
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing an idle stream
MAX_STREAMS = 64
HTML = "text/html; charset=utf-8"


def _operations() -> list[str]:
    return [op for op in request.args.getlist("op") if op and len(op) <= 512][:MAX_OPERATIONS]


def _points_json(found: Points, status: str | None, stage: Any) -> dict[str, Any]:
    return {
        "cursor": str(found.cursor),
        "status": status,
        "progress": stage,
        "points": [list(p) for p in found.points],
    }


def _event(name: str, data: Any, event_id: str | None = None) -> str:
    # json.dumps never writes a raw newline, so one data: line holds the whole event.
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, allow_nan=False)}\n\n"


def _sequence(conn: sqlite3.Connection, run_id: int) -> str | None:
    """The run's ``sequence`` document as stored (JSON text), or None."""
    row = conn.execute(
        "SELECT data FROM run_documents WHERE run_id = ? AND name = 'sequence'", (run_id,)
    ).fetchone()
    return str(row[0]) if row else None


class StreamSlots:
    """How many streams may run at once (a counting semaphore that never blocks)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.used >= self.limit:
                return False
            self.used += 1
            return True

    def give(self) -> None:
        with self.lock:
            self.used = max(0, self.used - 1)


def stream(
    store: Path,
    run_id: int,
    operations: list[str],
    cursor: Cursor,
    *,
    poll_s: float = POLL_S,
    life_s: float = STREAM_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """The events of one stream (see the module doc), until the run ends or ``life_s``."""
    yield f"retry: 1000\n: run {run_id}\n\n"
    started = last_sent = clock()
    last_progress: Any = None
    last_sequence: str | None = None
    with read_only(store) as conn:
        if conn is None:
            yield _event("end", {"status": None, "reason": "no results store"})
            return
        while True:
            status = run_status(conn, run_id)
            found = points_after(store, run_id, operations, cursor, conn=conn)
            if found.points:
                cursor = found.cursor
                yield _event("points", _points_json(found, status, None), str(cursor))
                last_sent = clock()
            sequence = _sequence(conn, run_id)
            if sequence is not None and sequence != last_sequence:
                # An adaptive run's looks (issue 22): the intervals narrowing round by round.
                last_sequence = sequence
                yield _event("sequence", json.loads(sequence))
                last_sent = clock()
            stage = progress(conn, run_id)
            if stage != last_progress:
                last_progress = stage
                yield _event("progress", stage)
                last_sent = clock()
            if status != "running":
                yield _event("end", {"status": status})
                return
            now = clock()
            if now - started >= life_s:
                return
            if now - last_sent >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                last_sent = now
            sleep(poll_s)


def register(bp: Blueprint, store: Path, *, max_streams: int = MAX_STREAMS) -> None:
    """Add the run page's routes to the dashboard's blueprint (``store``: the results
    database, ``$PLOG_HOME/results.db``)."""
    slots = StreamSlots(max_streams)

    @bp.get("/runs/<int:run_id>")
    def run_page(run_id: int) -> Response:
        detail = run_detail(store, run_id)
        if detail is None:
            body = render(
                "dashboard/error.html.j2",
                heading="Not found",
                message=f"no run #{run_id} in the store",
            )
            return Response(body, status=404, content_type=HTML)
        return Response(
            render(
                "dashboard/run.html.j2",
                detail=detail,
                run_id=run_id,
                exchange_texts=exchange_texts(detail.get("exchanges")),
                resource_rows=resource_rows(detail.get("resources")),
            ),
            content_type=HTML,
        )

    @bp.get("/api/runs/<int:run_id>")
    def run_api(run_id: int) -> tuple[Response, int]:
        detail = run_detail(store, run_id)
        if detail is None:
            return jsonify({"error": f"no run #{run_id} in the store"}), 404
        return jsonify(detail), 200

    @bp.get("/api/runs/<int:run_id>/points")
    def points_api(run_id: int) -> tuple[Response, int]:
        after = request.args.get("after")
        cursor = Cursor.parse(after)
        if after is not None and str(cursor) != after:
            return jsonify({"error": f"after={after[:40]!r} is not a cursor (like 12-40)"}), 400
        with read_only(store) as conn:
            status = None if conn is None else run_status(conn, run_id)
            if conn is None or status is None:
                return jsonify({"error": f"no run #{run_id} in the store"}), 404
            asked = _operations()
            unknown = sorted(set(asked) - run_operations(conn, run_id))
            # A running run may not have a second of an operation yet: only a finished
            # one can tell a typo for sure.
            if unknown and status != "running":
                names = ", ".join(repr(op[:80]) for op in unknown[:3])
                return jsonify({"error": f"run #{run_id} has no operation {names}"}), 400
            found = points_after(store, run_id, asked, cursor, conn=conn)
            return jsonify(_points_json(found, status, progress(conn, run_id))), 200

    @bp.get("/runs/<int:run_id>/events")
    def events(run_id: int) -> Response:
        with read_only(store) as conn:
            if conn is None or run_status(conn, run_id) is None:
                return Response(
                    json.dumps({"error": f"no run #{run_id} in the store"}),
                    status=404,
                    content_type="application/json",
                )
        if not slots.take():
            response = Response(
                json.dumps({"error": f"{slots.limit} live streams already open; retry"}),
                status=503,
                content_type="application/json",
            )
            response.headers["Retry-After"] = "5"
            return response
        cursor = Cursor.parse(request.headers.get("Last-Event-ID") or request.args.get("after"))
        operations = _operations()

        response = Response(
            stream(store, run_id, operations, cursor),
            content_type="text/event-stream; charset=utf-8",
        )
        # The server closes the body when the stream ends or the browser goes, even
        # before its first event: the slot is given back then.
        response.call_on_close(slots.give)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response
