"""plog compare and plog history on a real SQLite results store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from plog_ci.cli import cli
from plog_ci.results import OperationStats, SeriesPoint
from plog_ci.store.live import save_documents
from plog_ci.store.sqlite import ResultsStore, open_store
from testing.histograms import lognormal_histogram

OPS = ("GET /pets", "GET /pets/{petId}")
ENV = {"machine": "x86_64", "cpus": 2}


def _stats(op: str, p95: float, count: int = 200, failures: int = 0) -> OperationStats:
    return OperationStats(
        op, count, failures, count / 1.5, 1.0, p95 / 2, p95 / 2, p95 * 0.9, p95, p95 * 1.2, p95 * 2
    )


def _run(
    store: ResultsStore, repo: str, sha: str, status: str = "pass", branch: str = "main"
) -> int:
    run_id = store.start_run(
        repo=repo,
        commit_sha=sha,
        parent=None,
        base_sha=None,
        branch=branch,
        profile="load",
        config_hash="c",
        spec_hash="s",
        environment=ENV,
    )
    return run_id


def _blocks(store: ResultsStore, run_id: int, side: str, p95: float, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        noise = math.exp(rng.normal(0, 0.03))
        store.save_block(
            run_id, side, i, {op: _stats(op, p95 * noise * (1 + k)) for k, op in enumerate(OPS)}
        )


def _finish(store: ResultsStore, run_id: int, p95: float, status: str = "pass") -> None:
    store.save_stats(run_id, "script", {op: _stats(op, p95 * (1 + k)) for k, op in enumerate(OPS)})
    store.finish_run(run_id, status, {"status": status}, None)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> ResultsStore:
    s = open_store(home)
    yield s  # type: ignore[misc]
    s.close()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_compare_two_interleaved_runs_finds_the_regression(store: ResultsStore, home: Path) -> None:
    a = _run(store, "/r", "a" * 40)
    _blocks(store, a, "head", 20.0, 20, seed=1)
    _finish(store, a, 20.0)
    b = _run(store, "/r", "b" * 40)
    _blocks(store, b, "head", 25.0, 20, seed=2)  # +25%
    _finish(store, b, 25.0)
    code, out, err = invoke("compare", str(a), str(b), "--home", str(home))
    assert code == 0, err
    assert f"old: run #{a} (aaaaaaaaaaaa, head blocks)" in out
    row = next(line for line in out.splitlines() if line.startswith("GET /pets "))
    assert row.endswith("regression") and "+2" in row
    code, out, _ = invoke("compare", str(a), str(b), "--format", "json", "--home", str(home))
    data = json.loads(out)
    assert data["old"]["run_id"] == a and data["new"]["samples"] == "blocks:head"
    p95 = {c["operation"]: c for c in data["comparisons"] if c["metric"] == "p95"}
    assert p95["GET /pets"]["verdict"] == "regression"
    assert 20 < p95["GET /pets"]["delta_pct"] < 30
    assert data["settings"]["paired"] is False


def test_compare_one_interleaved_run_pairs_base_and_head(store: ResultsStore, home: Path) -> None:
    run_id = _run(store, "/r", "c" * 40)
    _blocks(store, run_id, "base", 20.0, 20, seed=3)
    _blocks(store, run_id, "head", 20.0, 20, seed=4)  # A/A
    _finish(store, run_id, 20.0)
    code, out, err = invoke("compare", str(run_id), "--format", "json", "--home", str(home))
    assert code == 0, err
    data = json.loads(out)
    assert data["settings"]["paired"] is True
    assert data["old"]["samples"] == "blocks:base" and data["new"]["samples"] == "blocks:head"
    assert data["summary"]["regression"] == 0
    assert {c["test"] for c in data["comparisons"] if c["metric"] == "p95"} == {"wilcoxon"} or all(
        "wilcoxon" in c["test"] for c in data["comparisons"] if c["metric"] == "p95"
    )


def test_compare_an_adaptive_run_leads_with_its_sequential_verdict(
    store: ResultsStore, home: Path
) -> None:
    # Stopped after 4 rounds: the fixed tests on them have no verdict, and must not
    # tell the user to add blocks, since the adaptive test decided.
    run_id = _run(store, "/r", "a" * 40)
    _blocks(store, run_id, "base", 20.0, 4, seed=3)
    _blocks(store, run_id, "head", 28.0, 4, seed=4)
    _finish(store, run_id, 28.0, "fail")
    code, out, _ = invoke("compare", str(run_id), "--home", str(home))
    assert code == 0 and "for a verdict: more blocks" in out  # a plain interleaved run
    line = "decided after 6 s: GET /pets +40% [+12%, +71%]"
    save_documents(store, run_id, {"sequence": {"final": True, "line": line, "seconds": 6.0}})
    code, out, err = invoke("compare", str(run_id), "--home", str(home))
    assert code == 0, err
    assert f"adaptive run: {line}\nFor reference: fixed-length tests on the same rounds" in out
    assert "more blocks" not in out
    code, out, err = invoke("compare", str(run_id), "--format", "json", "--home", str(home))
    assert json.loads(out)["adaptive"] == {"line": line, "seconds": 6.0}


def test_compare_from_series_and_summary_only(store: ResultsStore, home: Path) -> None:
    a = _run(store, "/r", "d" * 40)
    store.save_series(
        a,
        [
            SeriesPoint(
                op, 1000 + s, 30, 0, p50=5.0, p90=8.0, p95=9.0 + s % 3 * 0.1, p99=12.0, max=20.0
            )
            for op in OPS
            for s in range(30)
        ],
    )
    _finish(store, a, 9.0)
    b = _run(store, "/r", "e" * 40)
    _finish(store, b, 9.0)  # summary only
    code, out, err = invoke("compare", str(a), str(a), "--home", str(home))
    assert code == 0, err
    assert "per-second series" in out and "0 regression" in out
    code, out, _ = invoke("compare", str(a), str(b), "--home", str(home))
    assert code == 0
    assert "no-verdict" in out and "summary only" in out
    assert "0 regression, 0 improvement, 0 unchanged" in out
    # A run without base blocks is not an interleaved run.
    code, _, err = invoke("compare", str(b), "--home", str(home))
    assert code == 2 and "not an interleaved run" in err


def test_compare_bad_input(store: ResultsStore, home: Path, tmp_path: Path) -> None:
    a = _run(store, "/r", "f" * 40)
    _finish(store, a, 9.0)
    code, _, err = invoke("compare", str(a), "999", "--home", str(home))
    assert code == 2 and "no run with id 999" in err
    code, _, err = invoke("compare", "1", "2", "--home", str(tmp_path / "nowhere"))
    assert code == 2 and "no results database" in err
    assert not (tmp_path / "nowhere" / "results.sqlite3").exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.sqlite3").write_bytes(b"not a database at all" * 100)
    code, _, err = invoke("compare", "1", "2", "--home", str(bad))
    assert code == 2 and "not a readable results database" in err
    code, _, err = invoke("compare", "one", "--home", str(home))
    assert code == 2


def test_history_marks_the_change_point(store: ResultsStore, home: Path) -> None:
    rng = np.random.default_rng(7)
    ids = []
    for i in range(16):
        run_id = _run(store, "/r", f"{i:040x}")
        level = 20.0 if i < 8 else 26.0  # +30% from the 9th commit on
        _finish(store, run_id, level * math.exp(rng.normal(0, 0.02)))
        ids.append(run_id)
    other = _run(store, "/r", "9" * 40, branch="feature\x1b[31m")
    _finish(store, other, 100.0)
    code, out, err = invoke(
        "history", "--operation", "GET /pets", "--branch", "main", "--home", str(home)
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("GET /pets")
    marked = [ln for ln in lines if "change point" in ln and ln.startswith("#")]
    assert len(marked) == 1 and marked[0].startswith(f"#{ids[8]} ")
    assert "+30" in marked[0] or "+29" in marked[0] or "+31" in marked[0]
    code, out, _ = invoke("history", "--format", "json", "--metric", "p50", "--home", str(home))
    data = json.loads(out)
    assert [s["operation"] for s in data["series"]] == list(OPS)
    series = data["series"][0]
    assert [p["run_id"] for p in series["points"]] == [*ids, other]  # oldest first
    assert series["change_points"] and series["change_points"][0]["run_id"] == ids[8]
    code, out, _ = invoke("history", "--home", str(home))
    assert "\x1b" not in out and "feature\\x1b[31m" in out  # escaped, cannot forge output


def test_history_bad_input(store: ResultsStore, home: Path, tmp_path: Path) -> None:
    for repo in ("/one", "/two"):
        _finish(store, _run(store, repo, "a" * 40), 10.0)
    code, _, err = invoke("history", "--home", str(home))
    assert code == 2 and "2 repositories" in err and "--repo" in err
    code, _, err = invoke("history", "--repo", str(tmp_path), "--home", str(home))
    assert code == 2 and "not a git repository" in err
    code, _, err = invoke("history", "--metric", "p42", "--home", str(home))
    assert code == 2
    code, _, err = invoke("history", "--home", str(tmp_path / "none"))
    assert code == 2 and "no results database" in err


def test_compare_interleaved_blocks_with_histograms_tests_the_pooled_p95(
    store: ResultsStore, home: Path
) -> None:
    run_id = _run(store, "/r", "f" * 40)
    rng = np.random.default_rng(8)
    for i in range(20):
        machine = math.exp(rng.normal(0, 0.1))  # both blocks of a round share it
        for side, factor in (("base", 1.0), ("head", 1.25)):
            hists = {op: lognormal_histogram(rng, 0.004 * machine * factor, 60) for op in OPS[:1]}
            store.save_block(run_id, side, i, {OPS[0]: _stats(OPS[0], 8.0)}, hists)
    _finish(store, run_id, 8.0)
    code, out, err = invoke("compare", str(run_id), "--format", "json", "--home", str(home))
    assert code == 0, err
    p95 = next(c for c in json.loads(out)["comparisons"] if c["metric"] == "p95")
    assert p95["test"] == "paired-permutation-pooled (monte carlo)"
    assert p95["verdict"] == "regression" and 15 < p95["delta_pct"] < 35
    # The figures are the pooled histograms' p95, not the per-block statistics (8.0 ms).
    assert 4.5 < p95["old"] < 8.0 and p95["ci_low_pct"] > 0


def _single(store: ResultsStore, sha: str, p95: float, script: str = "script") -> int:
    run_id = _run(store, "/r", sha)
    store.save_series(
        run_id,
        [
            SeriesPoint(
                OPS[0],
                1000 + s,
                100,
                0,
                p50=5.0,
                p90=p95 / 2,
                p95=p95 * (1 + s % 3 * 0.01),
                p99=p95,
                max=p95,
            )
            for s in range(30)
        ],
    )
    store.save_stats(run_id, script, {OPS[0]: _stats(OPS[0], p95)})
    store.finish_run(run_id, "pass", {"status": "pass"}, None)
    return run_id


def test_compare_two_runs_judges_latency_run_against_run(store: ResultsStore, home: Path) -> None:
    from plog_ci.analysis.stored_runs import run_level_samples

    # History: commit a run three times, commit b twice (about 2% apart within each).
    for sha, levels in (("a", (10.0, 10.3, 9.9)), ("b", (12.0, 12.2))):
        for level in levels:
            _single(store, sha * 40, level)
    other = _single(store, "x" * 40, 50.0, script="another script")  # not comparable
    base = _single(store, "c" * 40, 10.0)
    drift = _single(store, "d" * 40, 13.0)  # +30%: beyond 2% noise with 3 df
    later = _single(store, "a" * 40, 30.0)  # after the head: must not count
    level = run_level_samples(store, [base], drift, ("p95",))
    found = level[OPS[0], "p95"]
    assert (found.old, found.new, found.df) == ((10.0,), 13.0, 3)
    assert found.sigma is not None and 0.005 < found.sigma < 0.03
    assert other and later
    code, out, err = invoke(
        "compare", str(base), str(drift), "--format", "json", "--home", str(home)
    )
    assert code == 0, err
    p95 = next(c for c in json.loads(out)["comparisons"] if c["metric"] == "p95")
    assert p95["test"] == "run-level-t" and p95["verdict"] == "regression", p95
    assert p95["n_old"] == 1 and 29 < p95["delta_pct"] < 31
