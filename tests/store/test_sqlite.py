"""The results store: migrations from old databases, concurrent writers, retention."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from plog_ci.errors import InputError
from plog_ci.results import OperationStats, SeriesPoint
from plog_ci.store.schema import MIGRATIONS, SCHEMA_VERSION
from plog_ci.store.sqlite import ResultsStore

ENV = {"machine": "x86_64", "cpus": 2, "k6": "1.1.0"}


def stats(op: str, p95: float) -> OperationStats:
    return OperationStats(op, 100, 1, 10.0, 1.0, 5.0, 4.0, 8.0, p95, p95 + 1, p95 + 2, {"500": 1})


def start(store: ResultsStore, sha: str = "a" * 40, branch: str = "main") -> int:
    return store.start_run(
        repo="/r",
        commit_sha=sha,
        parent=None,
        base_sha=None,
        branch=branch,
        profile="load",
        config_hash="c",
        spec_hash="s",
        environment=ENV,
    )


def test_migrates_a_version_1_database_keeping_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO repositories (id, path) VALUES (1, '/r')")
    conn.execute(
        "INSERT INTO runs (id, repo_id, commit_sha, profile, status, started_at, "
        "environment) VALUES (7, 1, 'abc', 'load', 'pass', 1.0, '{}')"
    )
    conn.execute(
        "INSERT INTO operation_stats VALUES (7, 'GET /a', ?)",
        (json.dumps(stats("GET /a", 9.0).to_dict()),),
    )
    conn.commit()
    conn.close()

    store = ResultsStore(path)
    assert store.version() == SCHEMA_VERSION == 6
    assert store.exchanges(7) == {}  # the new table exists, empty for old runs
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"live_points", "run_progress", "run_documents"} <= tables
    record = store.get_run(7)
    assert record.status == "pass" and record.commit_sha == "abc"
    assert store.operation_stats(7)["GET /a"].p95 == 9.0
    kind = store.conn.execute("SELECT kind FROM runs WHERE id = 7").fetchone()[0]
    assert kind == "single"
    store.save_series(
        7, [SeriesPoint("GET /a", 100, 5, 0, p50=1.0, p90=2.0, p95=3.0, p99=4.0, max=5.0)]
    )
    assert store.series(7)[0].count == 5


def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(InputError, match="newer than this PLog"):
        ResultsStore(path)


def test_round_trip_of_detail_tables(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite3")
    run = start(store)
    store.save_stats(run, "script", {"GET /a": stats("GET /a", 9.0)})
    store.save_errors(run, {"GET /a": {"500": 3, "timeout": 1}})
    store.save_histograms(run, "hdr-base64", {"GET /a": "HISTFAAAA"})
    store.save_block(run, "base", 0, {"GET /a": stats("GET /a", 9.0)})
    store.save_block(run, "head", 0, {"GET /a": stats("GET /a", 12.0)})
    hist = {
        "schema": 3,
        "zero_threshold": 0.0,
        "zero_count": 0.0,
        "count": 2.0,
        "sum": 0.02,
        "buckets": {"-53": 2.0},
    }
    store.save_block(run, "head", 1, {"GET /a": stats("GET /a", 13.0)}, {"GET /a": hist})
    store.save_resources(run, "head", [(1.0, 50.0, 1000), (2.0, 70.0, 1200)])
    store.save_gate_outcomes(
        run,
        [
            {
                "gate": "p95 < 10ms",
                "operation": "GET /a",
                "level": "fail",
                "value": 12.0,
                "passed": False,
                "decisive": True,
                "detail": "p95 = 12.0ms",
            }
        ],
    )
    store.save_findings(
        run,
        [
            {
                "kind": "cpu-bound",
                "operation": "GET /a",
                "message": "latency follows CPU",
                "data": {"r": 0.9},
            }
        ],
    )
    assert store.errors(run) == {"GET /a": {"500": 3, "timeout": 1}}
    assert store.histograms(run) == {"GET /a": ("hdr-base64", "HISTFAAAA")}
    blocks = store.blocks(run)
    assert [b["GET /a"].p95 for b in blocks["head"]] == [12.0, 13.0]
    # Block 0 kept no histogram: an empty entry, so blocks and histograms stay aligned.
    assert store.block_histograms(run)["head"] == [{}, {"GET /a": hist}]
    assert store.resources(run, "head")[1] == (2.0, 70.0, 1200)
    assert store.gate_outcomes(run)[0]["decisive"] is True
    assert store.findings(run)[0]["data"] == {"r": 0.9}


def test_comparable_runs_need_matching_fingerprints(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite3")
    a = start(store, "a" * 40)
    store.save_stats(a, "script-1", {})
    store.finish_run(a, "pass", None, None)
    b = start(store, "b" * 40)
    store.save_stats(b, "script-2", {})
    store.finish_run(b, "pass", None, None)
    errored = start(store, "a" * 40)
    store.save_stats(errored, "script-1", {})
    store.finish_run(errored, "error", None, None)
    found = store.comparable_runs(
        "/r", script_hash="script-1", environment=ENV, commit_sha="a" * 40
    )
    assert [r.id for r in found] == [a]
    assert store.comparable_runs("/r", script_hash="script-1", environment={**ENV, "cpus": 8}) == []


def test_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    ResultsStore(path).close()
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            store = ResultsStore(path)
            for i in range(20):
                run = start(store, f"{n:02d}{i:038d}")
                store.save_stats(run, "s", {"GET /a": stats("GET /a", float(i))})
                store.finish_run(run, "pass", {"n": n}, None)
            store.close()
        except BaseException as exc:  # collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    store = ResultsStore(path)
    assert len(store.runs(limit=1000)) == 80
    assert all(r.status == "pass" for r in store.runs(limit=1000))


def test_prune_keeps_the_newest_runs(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "r.sqlite3")
    ids = [start(store, f"{i:040d}") for i in range(5)]
    for i in ids:
        store.save_stats(i, "s", {"GET /a": stats("GET /a", 1.0)})
        store.finish_run(i, "pass", None, None)
    assert store.prune(keep_last=2) == 3
    assert [r.id for r in store.runs()] == ids[:1:-1][:2]
    assert store.operation_stats(ids[0]) == {}
    assert store.prune(max_age_days=0) == 2
