"""Relative gates decided on statistical comparisons."""

from __future__ import annotations

import math

import numpy as np

from plog_ci.analysis.comparison import StatsSettings
from plog_ci.analysis.relative_gates import (
    evaluate_relative,
    evaluate_with_comparisons,
    metrics_for,
    resolution,
)
from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.stats import compare_runs
from plog_ci.gate_grammar import parse_gate
from plog_ci.results import OperationStats


def samples(
    seed: int,
    op: str,
    shift: float = 1.0,
    *,
    sigma: float = 0.05,
    blocks: int = 30,
    rate: float = 200.0,
) -> OperationSamples:
    rng = np.random.default_rng(seed)
    p95 = 20.0 * shift * np.exp(rng.normal(0.0, sigma, blocks))
    counts = rng.poisson(rate, blocks)
    return OperationSamples(
        op,
        block_p95s=tuple(p95.tolist()),
        counts=tuple(int(c) for c in counts),
        failures=(0,) * blocks,
    )


def stats(op: str, p95: float = 20.0) -> OperationStats:
    return OperationStats(op, 6000, 0, 200.0, 5.0, 10.0, 9.0, 15.0, p95, 30.0, 80.0)


def test_significant_increase_beyond_threshold_fails_and_says_why() -> None:
    old = {"GET /pets": samples(1, "GET /pets")}
    new = {"GET /pets": samples(2, "GET /pets", 1.25)}
    comparisons = compare_runs(old, new)
    (outcome,) = evaluate_relative((parse_gate("p95 <= +10%"),), comparisons)
    assert outcome.passed is False and outcome.failed
    assert outcome.operation == "GET /pets"
    assert "breaks <= +10% and is significant" in outcome.detail
    assert "mann-whitney-u, n=30/30" in outcome.detail
    assert outcome.numbers["delta_pct"] is not None and outcome.numbers["delta_pct"] > 10
    assert outcome.numbers["threshold_pct"] == 10.0
    assert outcome.numbers["p_adjusted"] is not None and outcome.numbers["p_adjusted"] < 0.01


def test_change_inside_the_noise_passes_with_the_reason() -> None:
    # Very noisy, few blocks: the +12% point estimate is not significant.
    old = {"a": samples(3, "a", sigma=0.5, blocks=10)}
    new = {"a": samples(4, "a", 1.12, sigma=0.5, blocks=10)}
    comparisons = compare_runs(old, new)
    (c,) = [c for c in comparisons if c.metric == "p95"]
    assert c.delta_pct is not None and c.delta_pct > 10 and not c.significant
    (outcome,) = evaluate_relative((parse_gate("p95 <= +10%"),), comparisons)
    assert outcome.passed is True
    assert "but is within noise" in outcome.detail
    # ...and says how far off a verdict at the gate's +10% is: the half-width of the
    # interval (log ratio) against log(1.10), squared.
    assert c.ci_low_pct is not None and c.ci_high_pct is not None
    half = (math.log1p(c.ci_high_pct / 100) - math.log1p(c.ci_low_pct / 100)) / 2
    factor = (half / math.log1p(0.10)) ** 2
    assert factor > 1
    assert f"resolves about ±{math.expm1(half) * 100:.0f}%" in outcome.detail
    shown = f"{factor:.1f}" if factor < 10 else f"{factor:.0f}"
    assert f"about {shown}x the test length (load.duration)" in outcome.detail
    assert outcome.detail.endswith("would narrow it to ±10%")


def test_resolution_is_silent_when_the_interval_is_narrow_enough() -> None:
    comparisons = compare_runs({"a": samples(5, "a")}, {"a": samples(6, "a", 1.0)})
    (c,) = [c for c in comparisons if c.metric == "p95"]
    assert c.ci_low_pct is not None and c.ci_high_pct is not None
    assert c.ci_high_pct - c.ci_low_pct < 2 * 10  # narrower than +-10%
    assert resolution(c, parse_gate("p95 <= +10%")) == ""
    assert resolution(c, parse_gate("p95 <= +0%")) == ""  # no threshold to resolve
    assert "resolves about" in resolution(c, parse_gate("p95 <= +0.1%"))


def test_change_below_threshold_passes() -> None:
    comparisons = compare_runs({"a": samples(5, "a")}, {"a": samples(6, "a", 1.0)})
    (outcome,) = evaluate_relative((parse_gate("p95 <= +10%"),), comparisons)
    assert outcome.passed is True and "holds <= +10%" in outcome.detail


def test_throughput_gate_fails_on_significant_drop() -> None:
    old = {"a": samples(7, "a", rate=400)}
    new = {"a": samples(8, "a", rate=300)}
    (outcome,) = evaluate_relative((parse_gate("rps >= -5%"),), compare_runs(old, new))
    assert outcome.passed is False
    assert "breaks >= -5%" in outcome.detail


def test_no_verdicts_never_pass_or_fail() -> None:
    gate = parse_gate("p95 <= +10%")
    few = compare_runs({"a": samples(9, "a", blocks=3)}, {"a": samples(10, "a", 2.0, blocks=3)})
    (outcome,) = evaluate_relative((gate,), few)
    assert outcome.passed is None and outcome.detail.startswith("no verdict: too few blocks")
    (outcome,) = evaluate_relative((gate,), None)
    assert outcome.passed is None and outcome.detail == "no comparable baseline"
    p90 = parse_gate("p90 <= +10%")
    (outcome,) = evaluate_relative((p90,), few)
    assert outcome.passed is None and "not compared statistically" in outcome.detail
    scoped = parse_gate("p95 <= +10%", operation="GET /gone")
    (outcome,) = evaluate_relative((scoped,), few)
    assert outcome.passed is None and outcome.detail == "no comparison of p95 for GET /gone"


def test_absolute_gates_are_ignored_by_evaluate_relative() -> None:
    assert evaluate_relative((parse_gate("p95 < 300ms"),), None) == ()


def test_verdict_combines_absolute_and_relative_gates() -> None:
    old = {"a": samples(11, "a"), "b": samples(12, "b")}
    new = {"a": samples(13, "a", 1.3), "b": samples(14, "b")}
    settings = StatsSettings(metrics=metrics_for((parse_gate("p95 <= +10%"),)))
    assert settings.metrics == ("p95",)
    comparisons = compare_runs(old, new, settings)
    gates = (
        parse_gate("p95 < 300ms"),
        parse_gate("p95 <= +10%", level="warn"),
        parse_gate("p95 <= +20%", operation="a", key=True),
    )
    verdict = evaluate_with_comparisons(
        gates, {"a": stats("a"), "b": stats("b")}, stats("*"), comparisons
    )
    assert verdict.status == "fail"
    assert verdict.reason.startswith("key gate p95 <= +20% [a] failed on a: p95 19.9ms -> 26.5ms")
    assert verdict.reason.endswith("breaks <= +20% and is significant")
    assert [o.operation for o in verdict.decisive] == ["a"]
    warn = [o for o in verdict.outcomes if o.gate.level == "warn" and o.passed is False]
    assert [o.operation for o in warn] == ["a"]

    no_baseline = evaluate_with_comparisons(gates, {"a": stats("a")}, stats("*"), None)
    assert no_baseline.status == "pass"  # the absolute gate still holds
    assert {o.detail for o in no_baseline.outcomes if o.gate.relative} == {"no comparable baseline"}
