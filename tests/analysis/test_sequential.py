"""Sequential paired comparisons (issue 22): the confidence sequence, the decisions per
relative gate, Bonferroni across the family, the stopping rule, degenerate rounds."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest

from plog_ci.analysis.samples import OperationSamples
from plog_ci.analysis.sequential import (
    MIN_ROUNDS,
    Limit,
    Rule,
    SequenceDecision,
    decide,
    finish,
    log_ratios,
    paired_log_ratios,
    should_stop,
)
from plog_ci.analysis.sequential_bounds import (
    mixture_precision,
    t_mixture_log_e,
    t_mixture_radius,
)

KEY = ("GET /pets", "p95")


def rounds(seed: int, effect_pct: float, sd: float, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [math.log1p(effect_pct / 100) + float(x) for x in rng.normal(0.0, sd, n)]


def width(x: SequenceDecision[str]) -> float:
    assert x.low_pct is not None and x.high_pct is not None
    return x.high_pct - x.low_pct


def one(
    d: list[float],
    threshold: float = 10.0,
    min_rounds: int = MIN_ROUNDS,
    rule: Rule = "beyond",
) -> SequenceDecision[tuple[str, str]]:
    limits = {KEY: Limit(threshold)}
    return decide({KEY: d}, limits, alpha=0.01, min_rounds=min_rounds, rule=rule).decisions[0]


def test_the_closed_form_radius_is_where_the_martingale_reaches_one_over_alpha() -> None:
    rng = np.random.default_rng(0)
    for n in (8, 20, 60):
        x = rng.normal(0.3, 2.0, n)
        mean, q = float(x.mean()), float(((x - x.mean()) ** 2).sum())
        c = mixture_precision(20, 0.01)
        r = float(t_mixture_radius(n, q, c, 0.01))
        assert 0 < r < math.inf
        for mu in (mean - r, mean + r):
            assert t_mixture_log_e(n, mean, q, mu, c) == pytest.approx(math.log(100), rel=1e-9)
        # Inside the interval the evidence is below 1/alpha, outside above.
        assert t_mixture_log_e(n, mean, q, mean + 0.9 * r, c) < math.log(100)
        assert t_mixture_log_e(n, mean, q, mean + 1.1 * r, c) > math.log(100)
    assert t_mixture_log_e(1, 5.0, 0.0, 0.0, 1.0) == 0.0  # M_1 = 1: one round says nothing
    assert np.isinf(t_mixture_radius(1, 0.0, 1.0, 0.01))
    with pytest.raises(ValueError):
        t_mixture_radius(5, 1.0, 0.0, 0.01)
    with pytest.raises(ValueError):
        mixture_precision(20, 1.5)


def test_aa_sequences_decide_no_regression_beyond_alpha_at_any_look() -> None:
    # 400 A/A sequences of 60 looks: a regression at any look is a false alarm.
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(400):
        d = rng.standard_t(3, 60) * 0.1
        v = decide({KEY: d.tolist()}, {KEY: Limit(0.0)}, alpha=0.05, min_effect_pct=0.0)
        alarms += v.decisions[0].decision == "regression"
    assert alarms <= 20  # alpha 0.05 of 400; the bench shows about 1% with 10,000


def test_a_large_regression_is_decided_early() -> None:
    for seed in range(20):
        d = one(rounds(seed, 38.0, 0.1, 60))
        assert d.decision == "regression", d.reason
        assert d.decided_at is not None and d.decided_at <= 16
        assert d.low_pct is not None and d.low_pct > 10.0
        assert "beyond <= +10%" in d.reason


def test_no_regression_with_low_noise_is_decided_early_and_stops_the_test() -> None:
    d = rounds(3, 0.0, 0.03, 60)
    v = decide({KEY: d[:15]}, {KEY: Limit(10.0)}, alpha=0.01)
    x = v.decisions[0]
    assert x.decision == "within" and x.decided_at is not None and x.decided_at <= 15
    assert x.high_pct is not None and x.high_pct < 10.0
    stop, why = should_stop(v, max_rounds=80)
    assert stop and "every gate decided after 15 rounds" in why


def test_the_interval_narrows_as_rounds_grow() -> None:
    # +5% against a +5% gate stays undecided, so every look shows the interval now.
    d = rounds(11, 5.0, 0.1, 60)
    widths = []
    for n in range(MIN_ROUNDS, 61):
        x = decide({KEY: d[:n]}, {KEY: Limit(5.0)}, alpha=0.01).decisions[0]
        assert x.decision == "undecided"
        if x.low_pct is not None and x.high_pct is not None:
            widths.append(x.high_pct - x.low_pct)
    assert widths and all(b <= a + 1e-12 for a, b in itertools.pairwise(widths))
    assert widths[-1] < 0.5 * widths[0]


def test_a_decided_sequence_keeps_the_figures_it_was_decided_on() -> None:
    # The verdict line, the gate row and the live view show one interval.
    d = rounds(11, 5.0, 0.1, 60)
    first = decide({KEY: d[:20]}, {KEY: Limit(50.0)}, alpha=0.01).decisions[0]
    later = decide({KEY: d}, {KEY: Limit(50.0)}, alpha=0.01).decisions[0]
    assert first.decision == later.decision == "within"
    assert first.decided_at == later.decided_at
    at = later.decided_at
    assert at is not None and later.rounds == 60
    assert (later.estimate_pct, later.low_pct, later.high_pct) == (
        first.estimate_pct,
        first.low_pct,
        first.high_pct,
    )
    assert f"after {at} rounds" in later.reason


def test_beta_decides_within_sooner_and_rarely_misses_a_regression() -> None:
    # Unchanged, noise 0.1 per round, gate +5%: at alpha only the CS at alpha decides.
    hits_alpha, hits_beta, misses = 0, 0, 0
    for seed in range(40):
        aa = rounds(100 + seed, 0.0, 0.1, 40)
        at_alpha = decide({KEY: aa}, {KEY: Limit(5.0)}, alpha=0.01).decisions[0]
        at_beta = decide({KEY: aa}, {KEY: Limit(5.0)}, alpha=0.01, beta=0.2).decisions[0]
        hits_alpha += at_alpha.decision == "within"
        hits_beta += at_beta.decision == "within"
        if at_beta.decision == "within":
            assert at_beta.within_bound_pct is not None and at_beta.within_bound_pct < 5.0
            assert "80% confidence sequence" in at_beta.reason
        slow = rounds(200 + seed, 10.0, 0.1, 40)
        misses += (
            decide({KEY: slow}, {KEY: Limit(5.0)}, alpha=0.01, beta=0.2).decisions[0].decision
            == "within"
        )
    assert hits_beta >= hits_alpha + 10
    assert misses == 0


def test_beta_is_checked_and_none_keeps_the_alpha_interval() -> None:
    d = rounds(3, 0.0, 0.03, 30)
    plain = decide({KEY: d}, {KEY: Limit(10.0)}, alpha=0.01).decisions[0]
    assert plain.beta is None and plain.within_bound_pct == plain.high_pct
    with pytest.raises(ValueError, match="beta"):
        decide({KEY: d}, {KEY: Limit(10.0)}, alpha=0.01, beta=1.5)


def test_bonferroni_splits_alpha_among_the_family() -> None:
    ops = [f"op{i}" for i in range(5)]
    limits = {op: Limit(10.0) for op in ops}
    d = rounds(2, 0.0, 0.1, 40)
    v5 = decide(dict.fromkeys(ops, d), limits, alpha=0.05)
    v1 = decide({"op0": d}, {"op0": Limit(10.0)}, alpha=0.05)
    assert v5.family == 5 and all(x.alpha == pytest.approx(0.01) for x in v5.decisions)
    assert width(v5.decisions[0]) > width(v1.decisions[0])
    # The family-wise error over 5 A/A operations stays at alpha.
    rng = np.random.default_rng(5)
    alarms = 0
    for _ in range(200):
        paired = {op: rng.normal(0.0, 0.1, 60).tolist() for op in ops}
        v = decide(paired, {op: Limit(0.0) for op in ops}, alpha=0.05, min_effect_pct=0)
        alarms += any(x.decision == "regression" for x in v.decisions)
    assert alarms <= 10


def test_min_rounds_is_honoured() -> None:
    d = rounds(4, 100.0, 0.02, 30)
    early = one(d[:7])
    assert early.decision == "undecided"
    assert f"no decision before {MIN_ROUNDS}" in early.reason
    assert one(d[:8]).decided_at == 8
    assert one(d, min_rounds=12).decided_at == 12
    with pytest.raises(ValueError):
        one(d, min_rounds=1)


def test_degenerate_rounds_give_reasons_not_crashes() -> None:
    same = one([math.log(1.2)] * 20)
    assert same.decision == "undecided" and "no spread" in same.reason
    single = one([0.3])
    assert single.decision == "undecided" and "1 usable round" in single.reason
    empty = one([])
    assert empty.reason == "no usable rounds yet"
    d = [*rounds(1, 38.0, 0.1, 20), math.nan, math.inf, -math.inf]
    x = one(d)
    assert x.dropped == 3 and x.rounds == 20 and x.decision == "regression"
    missing = decide({}, {KEY: Limit(10.0)}, alpha=0.01).decisions[0]
    assert missing.decision == "undecided" and missing.rounds == 0
    ratios, lost = log_ratios([2.0, 0.0, math.nan, 4.0, 1.0], [2.0, 1.0, 3.0, 0.0, 3.0])
    assert lost == 3 and ratios == pytest.approx((0.0, math.log(3.0)))
    with pytest.raises(ValueError):
        log_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        decide({}, {}, alpha=1.0)
    assert should_stop(decide({}, {}, alpha=0.01), 10) == (True, "no relative gate to decide")


def test_a_throughput_drop_breaks_a_downward_gate() -> None:
    d = rounds(8, -30.0, 0.05, 30)
    x = decide({"rps": d}, {"rps": Limit(-5.0, upward=False)}, alpha=0.01).decisions[0]
    assert x.decision == "regression" and ">= -5%" in x.reason
    steady = rounds(9, 0.0, 0.02, 30)
    y = decide({"rps": steady}, {"rps": Limit(-5.0, upward=False)}, alpha=0.01).decisions[0]
    assert y.decision == "within"


def test_min_effect_raises_a_tighter_gate_and_rules_differ() -> None:
    # +4% true, gate +1%: never claimed below the 5% minimum effect.
    d = rounds(6, 4.0, 0.01, 60)
    x = one(d, threshold=1.0)
    assert x.decision == "within"
    # +10% true against +5%: significant (today's semantics) decides before beyond.
    d = rounds(12, 10.0, 0.1, 80)
    beyond = one(d, threshold=5.0)
    significant = one(d, threshold=5.0, rule="significant")
    assert significant.decision == "regression"
    assert significant.decided_at is not None
    assert beyond.decided_at is None or significant.decided_at < beyond.decided_at


def test_should_stop_and_finish() -> None:
    limits = {"slow": Limit(5.0), "same": Limit(5.0)}
    paired = {"slow": rounds(1, 38.0, 0.1, 20), "same": rounds(2, 0.0, 0.2, 20)}
    v = decide(paired, limits, alpha=0.01)
    stop, why = should_stop(v, max_rounds=80)
    assert stop and why.startswith("slow: regression decided after")
    stop, why = should_stop(v, max_rounds=80, decisive={"same"})
    assert not stop and why == "1 of 2 gate(s) undecided"
    stop, why = should_stop(v, max_rounds=20, decisive={"same"})
    assert stop and "reached 20 rounds with 1 gate(s) undecided" in why
    end = finish(v)
    assert [x.decision for x in end.decisions] == ["regression", "no-verdict"]
    assert end.decisions[1].reason.startswith("no verdict after 20 rounds: the interval")


def test_paired_log_ratios_from_interleaved_blocks() -> None:
    nan = math.nan
    base = OperationSamples(
        "GET /pets", block_p95s=(10.0, nan, 10.0), counts=(100, 0, 100), durations_s=(1.5,) * 3
    )
    head = OperationSamples(
        "GET /pets", block_p95s=(12.0, 11.0, 15.0), counts=(100, 90, 150), durations_s=(1.5,) * 3
    )
    ratios, lost = paired_log_ratios({"GET /pets": base}, {"GET /pets": head}, ("p95", "rps"))
    assert ratios[("GET /pets", "p95")] == pytest.approx((math.log(1.2), math.log(1.5)))
    assert lost[("GET /pets", "p95")] == 1
    assert ratios[("GET /pets", "rps")] == pytest.approx((0.0, math.log(1.5)))
    bare = OperationSamples("GET /pets", counts=(100, 0, 100))
    ratios, lost = paired_log_ratios({"GET /pets": bare}, {"GET /pets": head}, ("p99",))
    assert ratios[("GET /pets", "p99")] == () and lost[("GET /pets", "p99")] == 3
    with pytest.raises(ValueError):
        paired_log_ratios({}, {}, ("error_rate",))


def test_the_docs_example_runs_and_prints_what_the_page_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "sequential.md").read_text("utf-8")
    code, shown = re.findall(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", doc, re.S)[0]
    exec(compile(code, "docs/sequential.md", "exec"), {})
    assert capsys.readouterr().out == shown
