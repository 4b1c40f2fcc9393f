"""Relative gates decided by statistics, not by raw percentages.

A relative gate such as ``p95 <= +10%`` fails only when both hold:

* the point estimate of the change (ratio of per-block medians) breaks the
  gate, here: the p95 grew by more than 10%;
* the change is statistically significant in the direction that breaks it:
  adjusted p-value below alpha and the confidence interval wholly on that side
  of zero (for ``<``/``<=`` gates above zero, for ``>``/``>=`` gates below).

A change that breaks the threshold but sits inside the noise passes, with the
reason recorded. A comparison without a verdict (too few blocks, operation
missing, no comparable baseline) gives the gate no verdict: never a false pass
or fail. Every outcome carries the numbers that decided it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from plog_ci.analysis.comparison import COMPARED_METRICS, Comparison
from plog_ci.analysis.gates import GateOutcome, Verdict, decide, evaluate
from plog_ci.analysis.sequential_run import SequentialRun, followed
from plog_ci.gate_grammar import Gate
from plog_ci.results import OperationStats

_UNIT = {"p50": "ms", "p95": "ms", "p99": "ms", "rps": "/s"}


def metrics_for(gates: Sequence[Gate]) -> tuple[str, ...]:
    """The statistical metrics the relative gates need (for ``StatsSettings.metrics``)."""
    wanted = {g.metric for g in gates if g.relative and g.metric in COMPARED_METRICS}
    return tuple(m for m in COMPARED_METRICS if m in wanted)


def _value(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "error_rate":
        return f"{v * 100:.2f}%"
    return f"{v:.1f}{_UNIT.get(metric, '')}"


def _evidence(c: Comparison) -> str:
    ci = (
        f"CI {c.ci_low_pct:+.1f}%..{c.ci_high_pct:+.1f}%"
        if c.ci_low_pct is not None and c.ci_high_pct is not None
        else "no CI"
    )
    p = f"p={c.p_value:.3g}" if c.p_value is not None else "p=-"
    padj = f"adjusted p={c.p_adjusted:.3g}" if c.p_adjusted is not None else "adjusted p=-"
    delta = f"{c.delta_pct:+.1f}%" if c.delta_pct is not None else "?"
    return (
        f"{c.metric} {_value(c.metric, c.old)} -> {_value(c.metric, c.new)} ({delta}, "
        f"{ci}, {p}, {padj}; {c.test or 'no test'}, n={c.n_old}/{c.n_new})"
    )


def resolution(c: Comparison, gate: Gate) -> str:
    """What the test would need to resolve the gate's threshold, when its interval is wider.

    The interval narrows with the square root of the blocks and requests (the
    longer-tests bench measured it), so the factor is the squared ratio of the
    interval's half-width to the threshold, both as log ratios.
    """
    if c.ci_low_pct is None or c.ci_high_pct is None or min(c.ci_low_pct, c.ci_high_pct) <= -100:
        return ""
    half = (math.log1p(c.ci_high_pct / 100) - math.log1p(c.ci_low_pct / 100)) / 2
    target = math.log1p(abs(gate.threshold) / 100)
    if target <= 0 or half <= target:
        return ""
    factor = (half / target) ** 2
    times = f"{factor:.1f}" if factor < 10 else f"{factor:.0f}"
    return (
        f"; this comparison resolves about ±{math.expm1(half) * 100:.0f}%, and about "
        f"{times}x the test length (load.duration) would narrow it to ±{abs(gate.threshold):g}%"
    )


def _numbers(c: Comparison, gate: Gate) -> dict[str, float | None]:
    return {
        "old": c.old,
        "new": c.new,
        "delta_pct": c.delta_pct,
        "ci_low_pct": c.ci_low_pct,
        "ci_high_pct": c.ci_high_pct,
        "p_value": c.p_value,
        "p_adjusted": c.p_adjusted,
        "threshold_pct": gate.threshold,
    }


def _outcome(gate: Gate, c: Comparison) -> GateOutcome:
    numbers = _numbers(c, gate)
    if c.verdict == "no-verdict" or c.delta_pct is None:
        return GateOutcome(gate, c.operation, c.delta_pct, None, f"no verdict: {c.reason}", numbers)
    limit = f"{gate.op} {gate.threshold:+g}%"
    if gate.holds(c.delta_pct):
        return GateOutcome(
            gate, c.operation, c.delta_pct, True, f"{_evidence(c)} holds {limit}", numbers
        )
    upward = gate.op in ("<", "<=")  # the gate is broken by an increase
    ci_low, ci_high = c.ci_low_pct, c.ci_high_pct
    directional = (
        (ci_low is not None and ci_low > 0) if upward else (ci_high is not None and ci_high < 0)
    )
    if c.significant and directional:
        return GateOutcome(
            gate,
            c.operation,
            c.delta_pct,
            False,
            f"{_evidence(c)} breaks {limit} and is significant",
            numbers,
        )
    return GateOutcome(
        gate,
        c.operation,
        c.delta_pct,
        True,
        f"{_evidence(c)} breaks {limit} but is within noise ({c.reason}){resolution(c, gate)}",
        numbers,
    )


def evaluate_relative(
    gates: Sequence[Gate], comparisons: Sequence[Comparison] | None
) -> tuple[GateOutcome, ...]:
    """One outcome per relative gate and operation; ``comparisons=None``: no baseline."""
    by_key = {(c.operation, c.metric): c for c in comparisons or ()}
    operations = sorted({c.operation for c in comparisons or ()})
    outcomes: list[GateOutcome] = []
    for gate in gates:
        if not gate.relative:
            continue
        targets = [gate.operation] if gate.operation is not None else operations or ["*"]
        for name in targets:
            if comparisons is None:
                outcomes.append(GateOutcome(gate, name, None, None, "no comparable baseline"))
                continue
            if gate.metric not in COMPARED_METRICS:
                outcomes.append(
                    GateOutcome(
                        gate,
                        name,
                        None,
                        None,
                        f"{gate.metric} is not compared statistically; relative gates take "
                        f"{', '.join(COMPARED_METRICS)}",
                    )
                )
                continue
            c = by_key.get((name, gate.metric))
            if c is None:
                outcomes.append(
                    GateOutcome(
                        gate, name, None, None, f"no comparison of {gate.metric} for {name}"
                    )
                )
                continue
            outcomes.append(_outcome(gate, c))
    return tuple(outcomes)


def sequential_outcomes(gates: Sequence[Gate], run: SequentialRun) -> tuple[GateOutcome, ...]:
    """The relative gates an adaptive run followed, decided by their sequences
    (regression: fails; within: passes; no verdict at the end: no verdict)."""
    outcomes: list[GateOutcome] = []
    for gate in gates:
        if not followed(gate):
            continue
        mine = [
            d for d in run.verdict.decisions if d.key[1] == gate.metric and d.key[2] == gate.label
        ]
        if not mine:
            outcomes.append(
                GateOutcome(gate, gate.operation or "*", None, None, "no sequence followed it")
            )
        for d in mine:
            passed = {"regression": False, "within": True}.get(d.decision)
            reason = d.reason
            if passed is None and not reason.startswith("no verdict"):
                reason = f"no verdict: {reason}"
            numbers: dict[str, float | None] = {
                "delta_pct": d.estimate_pct,
                "ci_low_pct": d.low_pct,
                "ci_high_pct": d.high_pct,
                "threshold_pct": gate.threshold,
                "rounds": float(d.rounds),
            }
            outcomes.append(
                GateOutcome(gate, d.key[0], d.estimate_pct, passed, f"adaptive: {reason}", numbers)
            )
    return tuple(outcomes)


def evaluate_with_comparisons(
    gates: Sequence[Gate],
    stats: Mapping[str, OperationStats],
    total: OperationStats,
    comparisons: Sequence[Comparison] | None,
    sequential: SequentialRun | None = None,
) -> Verdict:
    """Absolute gates on the run's own figures, relative gates on the comparisons.

    ``sequential`` (an adaptive interleaved run, compare.length adaptive): the relative
    gates on p50/p95/p99/rps are decided by their sequences instead, and the verdict's
    reason leads with how long the test ran and why it stopped."""
    absolute = evaluate(tuple(g for g in gates if not g.relative), stats, total).outcomes
    if sequential is None or not sequential.verdict.decisions:
        return decide((*absolute, *evaluate_relative(gates, comparisons)))
    fixed = evaluate_relative(tuple(g for g in gates if not followed(g)), comparisons)
    verdict = decide((*absolute, *fixed, *sequential_outcomes(gates, sequential)))
    line = sequential.line()
    return replace(verdict, reason=f"{line}; {verdict.reason}" if verdict.reason else line)
