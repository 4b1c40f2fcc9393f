"""A run's data and live stream over real HTTP (waitress), from a real results store
that a writer thread fills as a run would: the seconds arrive as events, a
reconnection resumes at its last id, the stream ends with the final status, and
watchers beyond the limit are turned away without taking the webhook's threads."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from waitress.server import create_server

from plog_ci.results import TOTAL, SeriesPoint
from plog_ci.store.live import LiveWriter, ProgressWriter, save_documents
from plog_ci.store.sqlite import ResultsStore, open_store
from tests.web.conftest import add_run

T0 = 1_800_000_000


def _point(op: str, second: float, count: int = 10) -> SeriesPoint:
    return SeriesPoint(op, second, count, 0, p50=1.0, p90=2.0, p95=3.0, p99=4.0, max=5.0)


@pytest.fixture
def server(make_app: Callable[..., Flask]) -> Iterator[str]:
    app = make_app(DASHBOARD_MAX_STREAMS=3)
    srv = create_server(app, host="127.0.0.1", port=0, threads=8, ident="plog")
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    srv.close()


def _events(response: httpx.Response, until: str, limit_s: float = 10.0) -> list[dict[str, Any]]:
    """Parse SSE events from ``response`` until an event named ``until``."""
    out: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    deadline = time.monotonic() + limit_s
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until!r} event in {limit_s} s: {out}")
        if not line:
            if "event" in event:
                out.append(event)
                if event["event"] == until:
                    return out
            event = {}
        elif line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])
        elif line.startswith("id: "):
            event["id"] = line[4:]
    raise AssertionError(f"the stream closed before {until!r}: {out}")


def test_seconds_stream_as_they_are_written_and_the_end_closes_it(
    store: ResultsStore, plog_home: Path, server: str
) -> None:
    run_id = add_run(store, finished=False, status="running")
    ProgressWriter(store, run_id).stage("measure")
    LiveWriter(store, run_id).add([_point(TOTAL, T0)])
    seen: list[dict[str, Any]] = []

    def write_more() -> None:  # the worker, with its own connection
        writer_store = open_store(plog_home)
        live = LiveWriter(writer_store, run_id)
        for i in range(1, 4):
            time.sleep(0.3)
            writer_store.save_series(run_id, [_point("GET /pets", T0 + i)])
            live.add([_point(TOTAL, T0 + i)])
        time.sleep(0.3)
        writer_store.finish_run(run_id, "fail", {"status": "fail", "reason": "p95"}, None)
        writer_store.close()

    writer = threading.Thread(target=write_more)
    with httpx.stream(
        "GET", f"{server}/runs/{run_id}/events", params={"op": "GET /pets"}, timeout=10
    ) as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        assert res.headers["cache-control"] == "no-store"
        writer.start()
        seen = _events(res, "end")
    writer.join()
    points = [p for e in seen if e["event"] == "points" for p in e["data"]["points"]]
    assert [(p[1], p[2]) for p in points if p[1] == TOTAL] == [(TOTAL, T0 + i) for i in range(4)]
    assert [p[2] for p in points if p[1] == "GET /pets"] == [T0 + 1, T0 + 2, T0 + 3]
    assert seen[-1] == {"event": "end", "data": {"status": "fail"}}
    assert any(e["event"] == "progress" and e["data"]["stage"] == "measure" for e in seen)
    # Each batch of points carries the cursor as its id, increasing.
    ids = [e["id"] for e in seen if e["event"] == "points"]
    assert len(ids) >= 2 and ids == sorted(ids, key=lambda c: tuple(map(int, c.split("-"))))


def test_a_reconnection_resumes_after_its_last_event_id(store: ResultsStore, server: str) -> None:
    run_id = add_run(store, finished=False, status="running")
    live = LiveWriter(store, run_id)
    live.add([_point(TOTAL, T0), _point(TOTAL, T0 + 1)])
    first = httpx.get(f"{server}/api/runs/{run_id}/points", timeout=10).json()
    assert [p[2] for p in first["points"]] == [T0, T0 + 1] and first["status"] == "running"
    live.add([_point(TOTAL, T0 + 2)])
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    with httpx.stream(
        "GET",
        f"{server}/runs/{run_id}/events",
        headers={"Last-Event-ID": first["cursor"]},
        timeout=10,
    ) as res:
        seen = _events(res, "end")
    points = [p for e in seen if e["event"] == "points" for p in e["data"]["points"]]
    assert [p[2] for p in points] == [T0 + 2]  # nothing sent twice
    # A forged id is the start: the whole history again, never an error.
    with httpx.stream(
        "GET", f"{server}/runs/{run_id}/events", headers={"Last-Event-ID": "x'; --"}, timeout=10
    ) as res:
        seen = _events(res, "end")
    assert len([p for e in seen if e["event"] == "points" for p in e["data"]["points"]]) == 3


def test_watchers_beyond_the_limit_get_503_and_the_webhook_still_answers(
    store: ResultsStore, server: str
) -> None:
    run_id = add_run(store, finished=False, status="running")
    streams = [httpx.stream("GET", f"{server}/runs/{run_id}/events", timeout=10) for _ in range(3)]
    opened = [s.__enter__() for s in streams]
    try:
        for res in opened:
            assert res.status_code == 200
            next(res.iter_lines())  # the stream is open and served
        refused = httpx.get(f"{server}/runs/{run_id}/events", timeout=10)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        health = httpx.get(f"{server}/healthz", timeout=5)
        assert health.status_code == 200
    finally:
        for s in streams:
            s.__exit__(None, None, None)
    # A watcher that leaves gives its slot back.
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        res = httpx.get(f"{server}/runs/{run_id}/events", timeout=10)
        if res.status_code == 200:
            break
        time.sleep(0.2)
    assert res.status_code == 200 and "event: end" in res.text


def test_run_data_as_json_and_404s(store: ResultsStore, server: str) -> None:
    run_id = add_run(store, status="fail", branch="<script>alert(1)</script>")
    save_documents(store, run_id, {"result": {"duration_s": 30.0}})
    store.save_gate_outcomes(
        run_id,
        [
            {
                "gate": "p95 < 300ms",
                "operation": "GET /pets",
                "level": "fail",
                "value": 412.0,
                "passed": False,
                "decisive": True,
                "detail": "",
            }
        ],
    )
    data = httpx.get(f"{server}/api/runs/{run_id}", timeout=10).json()
    assert data["run"]["branch"] == "<script>alert(1)</script>" and data["run"]["status"] == "fail"
    assert data["gates"][0]["passed"] is False and data["gates"][0]["decisive"] is True
    assert data["documents"]["result"] == {"duration_s": 30.0}
    for path in ("/api/runs/999", "/api/runs/999/points", "/runs/999/events"):
        res = httpx.get(f"{server}{path}", timeout=10)
        assert res.status_code == 404 and "no run #999" in res.text, path
    huge = "9" * 25  # beyond SQLite's integers: no run, not a server error
    for path in (f"/runs/{huge}", f"/api/runs/{huge}", f"/api/runs/{huge}/points"):
        assert httpx.get(f"{server}{path}", timeout=10).status_code == 404, path
    # A browser gets its errors as pages; a script as JSON.
    page = httpx.get(f"{server}/runs/abc", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 404 and "<h1>Not Found</h1>" in page.text
    assert httpx.get(f"{server}/runs/abc", timeout=10).json() == {"error": "Not Found"}
    # A finished run tells a typo in ?op= or a forged cursor from real data.
    for query, needle in (
        ({"op": "GET /nope"}, "no operation 'GET /nope'"),
        ({"op": "<script>"}, "no operation"),
        ({"after": "abc"}, "not a cursor"),
        ({"after": "1e23"}, "not a cursor"),
    ):
        res = httpx.get(f"{server}/api/runs/{run_id}/points", params=query, timeout=10)
        assert res.status_code == 400 and needle in res.json()["error"], query
    known = httpx.get(f"{server}/api/runs/{run_id}/points", params={"op": "GET /pets"}, timeout=10)
    assert known.status_code == 200  # the gate names it
    assert httpx.post(f"{server}/api/runs/{run_id}", timeout=10).status_code == 405
