"""Statistics on synthetic runs with known effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from plog_ci.analysis.comparison import Comparison, StatsSettings
from plog_ci.analysis.samples import (
    OperationSamples,
    samples_from_seconds,
)
from plog_ci.analysis.significance import adjust_p_values
from plog_ci.analysis.stats import compare_runs
from plog_ci.errors import InputError


def synth(
    rng: np.random.Generator,
    operation: str,
    *,
    base_ms: float = 20.0,
    shift: float = 1.0,
    sigma: float = 0.10,
    blocks: int = 30,
    rate: float = 200.0,
    error_rate: float = 0.01,
    common: np.ndarray | None = None,
) -> OperationSamples:
    """Per-block samples: log-normal block noise around base_ms * shift."""
    noise = rng.normal(0.0, sigma, blocks)
    if common is not None:
        noise = noise + common
    p95 = base_ms * shift * np.exp(noise)
    counts = rng.poisson(rate, blocks)
    failures = rng.binomial(counts, error_rate)
    return OperationSamples(
        operation,
        block_p50s=tuple((p95 * 0.5).tolist()),
        block_p95s=tuple(p95.tolist()),
        block_p99s=tuple((p95 * 1.4).tolist()),
        counts=tuple(int(c) for c in counts),
        failures=tuple(int(f) for f in failures),
    )


def one(comparisons: list[Comparison], operation: str, metric: str) -> Comparison:
    (found,) = [c for c in comparisons if c.operation == operation and c.metric == metric]
    return found


def test_aa_trials_give_no_false_verdicts() -> None:
    """Same distribution twice, 100 seeded trials x 2 operations x 3 metrics.

    Bar: at most 1% of runs with a false regression; false claims of either
    direction stay near the family-wise alpha (Holm at 0.01, two-sided).
    """
    flagged = regressions = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        old = {op: synth(rng, op) for op in ("GET /a", "POST /b")}
        new = {op: synth(rng, op) for op in ("GET /a", "POST /b")}
        comparisons = compare_runs(old, new)
        assert all(c.verdict != "no-verdict" for c in comparisons)
        if any(c.verdict in ("regression", "improvement") for c in comparisons):
            flagged += 1
        if any(c.verdict == "regression" for c in comparisons):
            regressions += 1
    assert regressions <= 1
    assert flagged <= 3


@pytest.mark.parametrize(("shift", "sigma", "needed"), [(1.25, 0.10, 0.95), (1.10, 0.06, 0.80)])
def test_shift_is_detected(shift: float, sigma: float, needed: float) -> None:
    detected = 0
    trials = 40
    for seed in range(trials):
        rng = np.random.default_rng(1000 + seed)
        old = {"GET /a": synth(rng, "GET /a", sigma=sigma), "GET /b": synth(rng, "GET /b")}
        new = {
            "GET /a": synth(rng, "GET /a", sigma=sigma, shift=shift),
            "GET /b": synth(rng, "GET /b"),
        }
        comparisons = compare_runs(old, new)
        c = one(comparisons, "GET /a", "p95")
        if c.verdict == "regression":
            detected += 1
            assert c.ci_low_pct is not None and c.ci_low_pct > 0
        # The untouched operation stays quiet.
        assert one(comparisons, "GET /b", "p95").verdict != "regression"
    assert detected / trials >= needed


def test_paired_blocks_cancel_shared_noise() -> None:
    """Interleaved blocks share machine noise; the paired test sees through it."""
    paired_hits = unpaired_hits = 0
    for seed in range(20):
        rng = np.random.default_rng(50 + seed)
        common = rng.normal(0.0, 0.25, 30)  # the machine, hitting both runs alike
        old = {"GET /a": synth(rng, "GET /a", sigma=0.03, common=common)}
        new = {"GET /a": synth(rng, "GET /a", sigma=0.03, common=common, shift=1.10)}
        metrics = ("p95",)
        paired = compare_runs(old, new, StatsSettings(paired=True, metrics=metrics))
        unpaired = compare_runs(old, new, StatsSettings(metrics=metrics))
        paired_hits += paired[0].verdict == "regression"
        unpaired_hits += unpaired[0].verdict == "regression"
        assert paired[0].test == "wilcoxon-signed-rank"
    assert paired_hits >= 18
    assert unpaired_hits <= 5


def test_too_few_blocks_give_no_verdict_even_for_a_huge_change() -> None:
    rng = np.random.default_rng(7)
    old = {"GET /a": synth(rng, "GET /a", blocks=4)}
    new = {"GET /a": synth(rng, "GET /a", blocks=4, shift=3.0)}
    c = one(compare_runs(old, new), "GET /a", "p95")
    assert c.verdict == "no-verdict"
    assert "too few blocks" in c.reason


def test_blocks_that_cannot_reach_significance_after_correction_give_no_verdict() -> None:
    rng = np.random.default_rng(8)
    ops = [f"GET /{i}" for i in range(10)]
    old = {op: synth(rng, op, blocks=6) for op in ops}
    new = {op: synth(rng, op, blocks=6, shift=3.0) for op in ops}
    settings = StatsSettings(min_blocks=6)
    comparisons = compare_runs(old, new, settings)
    latency = [c for c in comparisons if c.metric == "p95"]
    # 6 vs 6 blocks: the smallest possible p is 2/924 = 0.0022 > 0.01 / 30 tests.
    assert all(c.verdict == "no-verdict" for c in latency)
    assert "to reach significance" in latency[0].reason


def test_missing_operation_gives_no_verdict() -> None:
    rng = np.random.default_rng(9)
    old = {"GET /a": synth(rng, "GET /a")}
    new = {"GET /a": synth(rng, "GET /a"), "GET /new": synth(rng, "GET /new")}
    comparisons = compare_runs(old, new)
    for metric in ("p95", "error_rate", "rps"):
        c = one(comparisons, "GET /new", metric)
        assert c.verdict == "no-verdict"
        assert c.reason == "operation not in the baseline run"


def test_small_significant_change_is_below_minimum_effect() -> None:
    rng = np.random.default_rng(10)
    old = {"GET /a": synth(rng, "GET /a", sigma=0.005)}
    new = {"GET /a": synth(rng, "GET /a", sigma=0.005, shift=1.03)}
    c = one(compare_runs(old, new), "GET /a", "p95")
    assert c.significant
    assert c.verdict == "unchanged"
    assert "below the minimum effect 5%" in c.reason


def test_improvement_is_reported_as_such() -> None:
    rng = np.random.default_rng(11)
    old = {"GET /a": synth(rng, "GET /a")}
    new = {"GET /a": synth(rng, "GET /a", shift=0.7)}
    c = one(compare_runs(old, new), "GET /a", "p95")
    assert c.verdict == "improvement"
    assert c.ci_high_pct is not None and c.ci_high_pct < 0


def test_error_rate_regression_and_zero_cases() -> None:
    def samples(op: str, counts: int, failures: int) -> OperationSamples:
        per = [counts // 10] * 10
        fails = [failures // 10] * 10
        return OperationSamples(
            op, block_p95s=(10.0,) * 10, counts=tuple(per), failures=tuple(fails)
        )

    old = {
        "a": samples("a", 6000, 60),
        "z": samples("z", 6000, 0),
        "tiny": samples("tiny", 10_000_000, 1000),
    }
    new = {
        "a": samples("a", 6000, 300),
        "z": samples("z", 6000, 0),
        "tiny": samples("tiny", 10_000_000, 5000),
    }
    settings = StatsSettings(metrics=("error_rate",))
    comparisons = compare_runs(old, new, settings)
    a = one(comparisons, "a", "error_rate")
    assert a.verdict == "regression"
    assert a.old == pytest.approx(0.01) and a.new == pytest.approx(0.05)
    assert a.test == "two-proportion-z"
    z = one(comparisons, "z", "error_rate")
    assert (z.verdict, z.delta_pct, z.p_value) == ("unchanged", 0.0, 1.0)
    tiny = one(comparisons, "tiny", "error_rate")
    assert tiny.significant and tiny.verdict == "unchanged"  # 0.01% -> 0.05%: below 0.1 point


def test_error_rate_from_zero_uses_fisher_and_infinite_delta() -> None:
    old = {"a": OperationSamples("a", counts=(500,) * 10, failures=(0,) * 10)}
    new = {"a": OperationSamples("a", counts=(500,) * 10, failures=(1,) + (0,) * 9)}
    c = compare_runs(old, new, StatsSettings(metrics=("error_rate",)))[0]
    assert c.test == "fisher-exact"
    assert c.delta_pct == math.inf
    assert c.verdict == "unchanged"
    assert c.to_dict()["delta_pct"] == "inf"


def test_too_few_requests_for_error_rate() -> None:
    old = {"a": OperationSamples("a", counts=(5,) * 10, failures=(0,) * 10)}
    new = {"a": OperationSamples("a", counts=(5,) * 10, failures=(5,) * 10)}
    c = compare_runs(old, new, StatsSettings(metrics=("error_rate",)))[0]
    assert c.verdict == "no-verdict" and "too few requests" in c.reason


def test_throughput_drop_is_a_regression() -> None:
    rng = np.random.default_rng(12)
    old = {"a": synth(rng, "a", rate=400)}
    new = {"a": synth(rng, "a", rate=300)}
    c = one(compare_runs(old, new), "a", "rps")
    assert c.verdict == "regression"
    assert c.delta_pct is not None and c.delta_pct < -20


def test_durations_scale_throughput() -> None:
    s = OperationSamples("a", counts=(100, 200), durations_s=(2.0, 4.0))
    assert s.throughput().tolist() == [50.0, 50.0]


def test_results_are_deterministic_and_order_independent() -> None:
    rng = np.random.default_rng(13)
    old = {op: synth(rng, op) for op in ("x", "y")}
    new = {op: synth(rng, op, shift=1.1) for op in ("x", "y")}
    first = compare_runs(old, new)
    again = compare_runs(dict(reversed(list(old.items()))), dict(reversed(list(new.items()))))
    assert first == again


def test_empty_blocks_are_left_out_of_latency() -> None:
    nan = float("nan")
    s = OperationSamples("a", block_p95s=(nan, 10.0, 12.0), counts=(0, 5, 5))
    assert s.latency("p95").tolist() == [10.0, 12.0]


def test_holm_and_bh_adjustments() -> None:
    p = [0.01, 0.04, 0.03]
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, 0.06])
    assert adjust_p_values(p, "bh") == pytest.approx([0.03, 0.04, 0.04])
    rng = np.random.default_rng(0)
    many = rng.uniform(0, 0.2, 25).tolist()
    assert adjust_p_values(many, "bh") == pytest.approx(false_discovery_control(many).tolist())
    assert adjust_p_values(p, "none") == p
    assert adjust_p_values([], "holm") == []
    with pytest.raises(InputError):
        adjust_p_values(p, "bonferroni-ish")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_p95s": (1.0, 2.0), "counts": (1,)}, "has 2 blocks but counts has 1"),
        ({"counts": (-1,)}, "is not a count"),
        ({"counts": (True,)}, "is not a count"),
        ({"counts": (1.5,)}, "is not a count"),
        ({"counts": (3,), "failures": (4,)}, "failures[0]"),
        ({"counts": (3,), "block_p95s": (float("nan"),)}, "is not a latency"),
        ({"counts": (3,), "block_p95s": (float("inf"),)}, "is not a latency"),
        ({"counts": (3,), "block_p95s": (-1.0,)}, "is not a latency"),
        ({"counts": (3,), "block_p95s": ("12",)}, "is not a latency"),
        ({"counts": (3,), "durations_s": (0.0,)}, "durations_s[0]"),
        ({"counts": (3,), "durations_s": (float("nan"),)}, "durations_s[0]"),
    ],
)
def test_hostile_samples_are_rejected_with_the_operation_named(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError) as err:
        OperationSamples("GET /evil", **kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)
    assert "GET /evil" in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"alpha": 1.5},
        {"correction": "magic"},
        {"min_effect_pct": -1.0},
        {"min_blocks": 1},
        {"bootstrap_resamples": 10},
        {"metrics": ("p42",)},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        StatsSettings(**kwargs)  # type: ignore[arg-type]


def test_samples_from_seconds_groups_by_operation() -> None:
    from plog_ci.results import SeriesPoint

    pts = [
        SeriesPoint("a", 10 + s, count=5, failures=1, p50=1.0, p95=2.0 + s, p99=3.0)
        for s in range(3)
    ] + [SeriesPoint("b", 10, count=0)]
    samples = samples_from_seconds(pts)
    assert samples["a"].block_p95s == (2.0, 3.0, 4.0)
    assert samples["a"].failures == (1, 1, 1)
    assert math.isnan(samples["b"].block_p95s[0]) and samples["b"].latency("p95").size == 0


def test_paired_mode_keeps_pairs_aligned_around_empty_blocks() -> None:
    nan = float("nan")
    # Block 0 of the old run is empty; its neighbour in the new run must go too.
    old_p95 = (nan, *[10.0 + i for i in range(12)])
    new_p95 = (99.0, *[11.0 + i for i in range(12)])
    old = {"a": OperationSamples("a", block_p95s=old_p95, counts=(0,) + (50,) * 12)}
    new = {"a": OperationSamples("a", block_p95s=new_p95, counts=(50,) * 13)}
    (c,) = compare_runs(old, new, StatsSettings(paired=True, metrics=("p95",)))
    assert (c.n_old, c.n_new, c.test) == (12, 12, "wilcoxon-signed-rank")
    assert c.verdict == "regression"  # every pair is +1 ms
