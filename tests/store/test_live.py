"""The dashboard's live tables: what LiveWriter and ProgressWriter write, and how
run_query reads it back after a cursor (real SQLite, a real results store)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from plog_ci.results import TOTAL, SeriesPoint
from plog_ci.series import SeriesFanout
from plog_ci.store.details import SeriesWriter
from plog_ci.store.live import LiveWriter, ProgressWriter, save_documents, total_p95
from plog_ci.store.run_query import Cursor, points_after, run_detail
from plog_ci.store.schema import MIGRATIONS
from plog_ci.store.sqlite import ResultsStore, open_store

T0 = 1_800_000_000


def _run(store: ResultsStore) -> int:
    return store.start_run(
        repo="/srv/shop",
        commit_sha="a" * 40,
        parent=None,
        base_sha=None,
        branch="main",
        profile="load",
        config_hash="c" * 64,
        spec_hash=None,
        environment={"cpus": 2},
    )


def _point(op: str, second: float, count: int = 10, p95: float = 5.0) -> SeriesPoint:
    return SeriesPoint(op, second, count, 1, p50=2.0, p90=4.0, p95=p95, p99=9.0, max=12.0)


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return open_store(tmp_path)


def test_the_whole_run_goes_to_live_points_and_operations_to_series(store: ResultsStore) -> None:
    run_id = _run(store)
    fanout = SeriesFanout([SeriesWriter(store, run_id), LiveWriter(store, run_id)])
    for i in range(3):
        fanout.collect([_point("GET /a", T0 + i), _point(TOTAL, T0 + i, 10, 6.0)])
        fanout.flush()
    assert {p.operation for p in store.series(run_id)} == {"GET /a"}  # no TOTAL in series
    got = points_after(store.path, run_id, ["GET /a"], Cursor())
    totals = [p for p in got.points if p[1] == TOTAL]
    assert [p[2] for p in totals] == [T0, T0 + 1, T0 + 2]
    assert totals[0] == ("", TOTAL, T0, 10, 1, 2.0, 4.0, 6.0, 9.0, 12.0)
    assert len([p for p in got.points if p[1] == "GET /a"]) == 3
    # Only the operations asked for (and TOTAL) come back.
    assert {p[1] for p in points_after(store.path, run_id, [], Cursor()).points} == {TOTAL}


def test_after_a_cursor_only_the_new_seconds_come_and_a_replaced_second_comes_again(
    store: ResultsStore,
) -> None:
    run_id, other = _run(store), _run(store)
    live = LiveWriter(store, run_id)
    store.save_series(run_id, [_point("GET /a", T0)])
    live.add([_point(TOTAL, T0)])
    first = points_after(store.path, run_id, ["GET /a"], Cursor())
    assert len(first.points) == 2
    assert points_after(store.path, run_id, ["GET /a"], first.cursor).points == []
    # Another run's seconds move the cursor but are never this run's points.
    LiveWriter(store, other).add([_point(TOTAL, T0 + 5)])
    store.save_series(run_id, [_point("GET /a", T0, count=99), _point("GET /a", T0 + 1)])
    live.add([_point(TOTAL, T0 + 1)])
    later = points_after(store.path, run_id, ["GET /a"], first.cursor)
    assert [(p[1], p[2], p[3]) for p in later.points] == [
        ("GET /a", T0, 99),  # re-saved: comes again with its new count
        (TOTAL, T0 + 1, 10),
        ("GET /a", T0 + 1, 10),
    ]
    assert points_after(store.path, run_id, ["GET /a"], later.cursor).points == []


def test_sides_are_placed_on_whole_seconds_per_side_and_operation(store: ResultsStore) -> None:
    run_id = _run(store)
    live = LiveWriter(store, run_id)
    # Two pushes of one side inside one wall-clock second: the later takes the next.
    live.add_sides({"base": [_point("GET /a", T0 + 0.2)], "head": [_point("GET /a", T0 + 0.3)]})
    live.add_sides({"base": [_point("GET /a", T0 + 0.9), _point(TOTAL, T0 + 0.9)]})
    got = points_after(store.path, run_id, ["GET /a"], Cursor()).points
    assert [(p[0], p[1], p[2]) for p in got if p[1] == "GET /a"] == [
        ("base", "GET /a", T0),
        ("head", "GET /a", T0),
        ("base", "GET /a", T0 + 1),
    ]
    assert ("base", TOTAL, T0) in [(p[0], p[1], p[2]) for p in got]


def test_an_old_run_gets_its_total_from_the_operations_counts(store: ResultsStore) -> None:
    run_id = _run(store)
    store.save_series(run_id, [_point("GET /a", T0, 3), _point("GET /b", T0, 4)])
    (total,) = [p for p in points_after(store.path, run_id, [], Cursor()).points]
    assert total[:5] == ("", TOTAL, T0, 7, 2) and total[5:] == (None,) * 5


def test_progress_is_written_at_each_stage_and_at_most_twice_a_second(store: ResultsStore) -> None:
    run_id = _run(store)
    now = [100.0]
    progress = ProgressWriter(store, run_id, clock=lambda: now[0])
    progress.stage("measure")
    progress.step("Loading 2 operations for 30 s", total=30.0)
    for done in (1.0, 1.1, 1.2):
        now[0] += 0.1
        progress.advance_to(done)
    detail = run_detail(store.path, run_id)
    assert detail is not None
    assert detail["progress"]["stage"] == "measure"
    assert detail["progress"]["detail"] == "Loading 2 operations for 30 s"
    assert detail["progress"]["total"] == 30.0
    assert detail["progress"]["done"] == 0.0  # the 0.1-s steps were not written
    now[0] += 1.0
    progress.advance_to(5.0)
    assert run_detail(store.path, run_id)["progress"]["done"] == 5.0  # type: ignore[index]


def test_documents_are_json_that_browsers_read(store: ResultsStore) -> None:
    run_id = _run(store)
    save_documents(store, run_id, {"comparisons": {"rows": [math.nan, math.inf, 1.5]}})
    detail = run_detail(store.path, run_id)
    assert detail is not None
    assert detail["documents"]["comparisons"] == {"rows": [None, "inf", 1.5]}


def test_a_missing_run_or_store_reads_as_none(tmp_path: Path, store: ResultsStore) -> None:
    assert run_detail(store.path, 404) is None
    assert run_detail(tmp_path / "none.sqlite3", 1) is None
    assert points_after(tmp_path / "none.sqlite3", 1, [], Cursor()).points == []


def test_a_store_of_an_older_schema_reads_without_the_live_tables(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite3"
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:4]:
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 4")
    conn.execute("INSERT INTO repositories (id, path) VALUES (1, '/r')")
    conn.execute(
        "INSERT INTO runs (id, repo_id, commit_sha, profile, status, started_at) "
        "VALUES (3, 1, 'abc', 'load', 'pass', 1.0)"
    )
    conn.execute("INSERT INTO series VALUES (3, 'GET /a', ?, 5, 0, 1, 2, 3, 4, 5)", (T0,))
    conn.execute("INSERT INTO resources VALUES (3, 'head', ?, 50.0, 1000)", (T0,))
    conn.commit()
    conn.close()
    detail = run_detail(path, 3)
    assert detail is not None and detail["progress"] is None and detail["documents"] == {}
    assert detail["operations"] == ["GET /a"]
    assert detail["resources"] == {"head": [[T0, 50.0, 1000]]}  # no cgroup columns yet
    points = points_after(path, 3, ["GET /a"], Cursor()).points
    assert {p[1] for p in points} == {"GET /a", TOTAL}
    # Read-only: the old store was not migrated by reading it.
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 4


@pytest.mark.parametrize("text", [None, "", "x", "1-", "-1", "1-2-3", "9" * 30 + "-1", "１-２"])
def test_a_forged_cursor_is_the_start(text: str | None) -> None:
    assert Cursor.parse(text) == Cursor()
    assert Cursor.parse("12-40") == Cursor(12, 40) and str(Cursor(12, 40)) == "12-40"


def test_gates_still_pending_when_a_run_ends_say_it_was_not_evaluated(
    store: ResultsStore,
) -> None:
    run_id, other = _run(store), _run(store)
    for rid in (run_id, other):
        store.save_gate_outcomes(
            rid,
            [{"gate": "p95 < 1s", "operation": "*", "level": "fail", "passed": None,
              "detail": "pending"}],
        )  # fmt: skip
    store.finish_run(run_id, "cancelled", {"status": "cancelled"}, None)
    assert store.close_abandoned(other, "worker killed")
    for rid, status in ((run_id, "cancelled"), (other, "error")):
        (gate,) = store.gate_outcomes(rid)
        assert gate["detail"] == f"not evaluated: the run ended ({status})"


def test_container_counters_are_kept_beside_the_samples_and_read_back(
    store: ResultsStore,
) -> None:
    run_id = _run(store)
    store.save_resources(run_id, "head", [(T0, 40.0, 100), (T0 + 1, 45.0, 120, 10, 4, 0.2, 0, 1)])
    store.save_resources(run_id, "base", [(T0, 30.0, 90)])
    detail = run_detail(store.path, run_id)
    assert detail is not None
    assert detail["resources"]["head"] == [[T0, 40.0, 100], [T0 + 1, 45.0, 120, 10, 4, 0.2, 0, 1]]
    assert detail["resources"]["base"] == [[T0, 30.0, 90]]
    assert store.resources(run_id, "head")[1] == (T0 + 1, 45.0, 120)


def test_the_whole_runs_p95_per_second_for_the_findings(store: ResultsStore) -> None:
    run_id = _run(store)
    writer = LiveWriter(store, run_id)
    writer.add([_point(TOTAL, T0, p95=7.0), _point("GET /a", T0), _point(TOTAL, T0 + 1, p95=8.0)])
    writer.add_sides({"head": [_point(TOTAL, T0 + 5, p95=9.0)]})
    assert total_p95(store, run_id) == [(T0, 7.0), (T0 + 1, 8.0)]
    assert total_p95(store, run_id, "head") == [(T0 + 5, 9.0)]
    assert total_p95(store, run_id + 1) == []
