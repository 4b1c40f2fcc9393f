"""Sequential comparisons judge latency run against run, with run-to-run noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.run_level import run_noise
from plog_ci.analysis.samples import OperationSamples, RunLevelSamples
from plog_ci.analysis.stats import compare_runs

OP = "GET /pets"
SETTINGS = StatsSettings(metrics=("p95", "error_rate"))


def seconds(rng: np.random.Generator, level: float, n: int = 28) -> OperationSamples:
    """Per-second samples whose p95 sits tightly around ``level`` (1% noise)."""
    p95 = level * np.exp(rng.normal(0, 0.01, n))
    return OperationSamples(
        OP,
        block_p95s=tuple(p95.tolist()),
        counts=(100,) * n,
        failures=(0,) * n,
    )


def test_noise_is_pooled_within_commits_only() -> None:
    # Two commits 30% apart: the gap between them is a change, not noise.
    sigma, df = run_noise([[10.0, 10.5, 9.5], [13.0, 13.4], [20.0]])
    assert df == 3
    within = [math.log(v) for v in (10.0, 10.5, 9.5)], [math.log(v) for v in (13.0, 13.4)]
    ss = sum(float(np.sum((np.array(g) - np.mean(g)) ** 2)) for g in within)
    assert sigma == pytest.approx(math.sqrt(ss / 3))
    assert run_noise([[10.0], [12.0]]) == (None, 0)


def test_drift_between_runs_is_no_regression_when_runs_are_that_noisy() -> None:
    """A +20% drift that per-second tests call highly significant stays within noise."""
    rng = np.random.default_rng(1)
    old, new = {OP: seconds(rng, 10.0)}, {OP: seconds(rng, 12.0)}
    per_second = next(c for c in compare_runs(old, new, SETTINGS) if c.metric == "p95")
    assert per_second.verdict == "regression"  # what the old sequential test said
    sigma, df = run_noise([[10.0, 11.6, 8.9, 10.4], [12.5, 10.8]])  # ~10% run-to-run
    level = {(OP, "p95"): RunLevelSamples((10.0,), 12.0, sigma, df)}
    found = next(c for c in compare_runs(old, new, SETTINGS, level) if c.metric == "p95")
    assert found.test == "run-level-t" and found.verdict == "unchanged"
    assert found.delta_pct == pytest.approx(20.0)
    assert found.ci_low_pct is not None and found.ci_low_pct < 0 < (found.ci_high_pct or 0)


def test_a_change_beyond_the_run_noise_is_a_regression() -> None:
    rng = np.random.default_rng(2)
    old, new = {OP: seconds(rng, 10.0)}, {OP: seconds(rng, 15.0)}
    groups = [[10.0, 10.2, 9.9, 10.1], [10.3, 10.0, 10.2], [9.8, 10.1]]  # ~1.5% noise
    sigma, df = run_noise(groups)
    level = {(OP, "p95"): RunLevelSamples((10.0, 10.2), 15.0, sigma, df)}
    found = next(c for c in compare_runs(old, new, SETTINGS, level) if c.metric == "p95")
    assert found.verdict == "regression", found.reason
    assert found.old == pytest.approx(math.sqrt(10.0 * 10.2))  # geometric mean of the runs
    assert found.ci_low_pct is not None and found.ci_low_pct > 30


def test_without_repeated_runs_there_is_no_verdict() -> None:
    rng = np.random.default_rng(3)
    old, new = {OP: seconds(rng, 10.0)}, {OP: seconds(rng, 20.0)}
    level = {(OP, "p95"): RunLevelSamples((10.0,), 20.0, None, 0)}
    found = compare_runs(old, new, SETTINGS, level)
    p95 = next(c for c in found if c.metric == "p95")
    assert p95.verdict == "no-verdict" and "run-to-run noise unknown" in p95.reason
    assert p95.delta_pct == pytest.approx(100.0)  # the figure is still shown
    # The error rate is still compared on the pooled counts.
    assert next(c for c in found if c.metric == "error_rate").verdict == "unchanged"
    few = {(OP, "p95"): RunLevelSamples((10.0,), 20.0, 0.05, 2)}
    p95 = next(c for c in compare_runs(old, new, SETTINGS, few) if c.metric == "p95")
    assert p95.verdict == "no-verdict" and "2 degrees of freedom" in p95.reason


def test_missing_operation_in_run_level_data_is_no_verdict() -> None:
    rng = np.random.default_rng(4)
    old, new = {OP: seconds(rng, 10.0)}, {OP: seconds(rng, 10.0)}
    found = compare_runs(old, new, SETTINGS, {})
    p95 = next(c for c in found if c.metric == "p95")
    assert p95.verdict == "no-verdict" and "no run-level p95" in p95.reason


def test_aa_level_holds_for_run_level_tests() -> None:
    """Runs that only drift (10% run-to-run): at most ~alpha false regressions."""
    rng = np.random.default_rng(5)
    false = 0
    for _ in range(400):
        runs = 10.0 * np.exp(rng.normal(0, 0.10, 8))  # 4 commits x 2 runs of history
        sigma, df = run_noise([runs[i : i + 2].tolist() for i in range(0, 8, 2)])
        base, head = 10.0 * math.exp(rng.normal(0, 0.10)), 10.0 * math.exp(rng.normal(0, 0.10))
        level = {(OP, "p95"): RunLevelSamples((base,), head, sigma, df)}
        old, new = {OP: seconds(rng, base)}, {OP: seconds(rng, head)}
        found = compare_runs(old, new, StatsSettings(metrics=("p95",)), level)
        false += found[0].verdict == "regression"
    assert false <= 6  # expected 2 at alpha = 0.01 (one-sided half of it)
