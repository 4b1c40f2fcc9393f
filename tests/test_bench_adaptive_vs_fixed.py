"""bench/adaptive_vs_fixed.py: an adaptive sitting's runs re-judged by the fixed test on
their first compare.blocks rounds, from a real SQLite results store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.adaptive_vs_fixed import main, table
from plog_ci.results import OperationStats
from plog_ci.store.sqlite import open_store
from testing.histograms import lognormal_histogram

OP = "GET /pets"


def _stats(p95: float) -> OperationStats:
    return OperationStats(OP, 60, 0, 40.0, 1.0, p95 / 2, p95 / 2, p95 * 0.9, p95, p95 * 1.2, p95)


def _interleaved_run(home: Path, slow_from: int, rounds: int) -> int:
    """One interleaved run: the head 60% slower from round ``slow_from`` on."""
    store = open_store(home)
    try:
        run_id = store.start_run(
            repo="/r",
            commit_sha="f" * 40,
            parent=None,
            base_sha="e" * 40,
            branch="main",
            profile="load",
            config_hash="c",
            spec_hash="s",
            environment={"cpus": 2},
        )
        rng = np.random.default_rng(3)
        for i in range(rounds):
            machine = math.exp(rng.normal(0, 0.05))
            for side in ("base", "head"):
                factor = 1.6 if side == "head" and i >= slow_from else 1.0
                hist = lognormal_histogram(rng, 0.004 * machine * factor, 60)
                store.save_block(run_id, side, i, {OP: _stats(8.0)}, {OP: hist})
        store.finish_run(run_id, "fail", {"status": "fail"}, None)
    finally:
        store.close()
    return run_id


def _sitting(tmp_path: Path, run_id: int, blocks: int = 20) -> Path:
    trial = {
        "scenario": "+10%",
        "hog": False,
        "verdict": "regression",
        "run_id": run_id,
        "length_s": 60.0,
    }
    errored = {"scenario": "+10%", "hog": False, "verdict": "error", "run_id": None}
    data = {"settings": {"length": "adaptive", "blocks": blocks}, "trials": [trial, errored]}
    path = tmp_path / "sitting.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_fixed_test_sees_only_the_first_rounds(tmp_path: Path) -> None:
    # Unchanged for 20 rounds, then 60% slower: the adaptive run (40 rounds) caught it,
    # the fixed test on the first 20 rounds cannot.
    home = tmp_path / "home"
    run_id = _interleaved_run(home, slow_from=20, rounds=40)
    data = json.loads(_sitting(tmp_path, run_id).read_text(encoding="utf-8"))
    (row,) = table(data, home)
    assert (row["trials"], row["adaptive_regressions"], row["skipped"]) == (1, 1, 1)
    assert row["fixed_regressions"] == 0 and row["adaptive_median_length_s"] == 60.0
    # Judged on all 40 rounds the same store shows the regression: the cut is what differs.
    data["settings"]["blocks"] = 40
    (row,) = table(data, home)
    assert row["fixed_regressions"] == 1


def test_main_prints_both_tests_and_refuses_fixed_sittings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    run_id = _interleaved_run(home, slow_from=0, rounds=20)
    path = _sitting(tmp_path, run_id)
    main(["--json", str(path), "--home", str(home)])
    out = capsys.readouterr().out
    assert "+10%" in out and "20 rounds:" in out
    data = json.loads(path.read_text(encoding="utf-8"))
    data["settings"]["length"] = "fixed"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SystemExit, match="not an adaptive sitting"):
        main(["--json", str(path), "--home", str(home)])
