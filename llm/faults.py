"""Synthetic runs with one injected fault, for training pairs and held-out sets.

A run is the example's or a benchmark service's operations measured twice (base and
head); the head carries one fault of ``FAULTS``:

- ``slowdown``: one operation's latency grows 2-8x (a sleep, a query, a lock);
- ``cpu``: the service saturates the CPU (90-99% of a core), every operation slower;
- ``memory``: resident memory grows by 80-300 MB during the test;
- ``errors``: one operation answers 5-30% of its requests with a 5xx;
- ``none``: a control run, head and base within noise.

The findings are PLog's own (``latency_findings``, ``resource_findings``) on the
made-up figures, so the bundle is what a real run with that fault would give.
Deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from plog_ci.analysis.comparison import Comparison
from plog_ci.analysis.findings import ResourceSummary, latency_findings, resource_findings
from plog_ci.analysis.gates import GateOutcome, Verdict
from plog_ci.gate_grammar import parse_gate
from plog_ci.report.evidence import RunEvidence
from plog_ci.results import TOTAL, OperationStats

FAULTS = ("slowdown", "cpu", "memory", "errors", "none")
DURATION_S = 30.0
MB = 1 << 20

# Operations of the example (petstore) and of the benchmark services' specs.
SERVICES: tuple[tuple[str, ...], ...] = (
    ("GET /pets", "GET /pets/{petId}", "POST /pets", "DELETE /pets/{petId}"),
    ("GET /v2/orders", "POST /v2/orders", "GET /v2/orders/{orderId}", "GET /health"),
    ("GET /items", "GET /items/{id}", "PUT /items/{id}", "POST /items/search"),
)


@dataclass(frozen=True)
class Synthetic:
    """A made-up run: its evidence, the injected fault and the operation it hit."""

    evidence: RunEvidence
    fault: str
    operation: str | None


def _stats(op: str, rng: random.Random, p50: float, rps: float) -> OperationStats:
    p90 = p50 * rng.uniform(1.5, 2.0)
    p95 = p90 * rng.uniform(1.1, 1.4)
    p99 = p95 * rng.uniform(1.2, 1.6)
    count = int(rps * DURATION_S)
    mean = p50 * 1.1
    return OperationStats(op, count, 0, rps, p50 * 0.4, mean, p50, p90, p95, p99, p99 * 2)


def _scaled(
    s: OperationStats, factor: float, failures: int = 0, status: str = ""
) -> OperationStats:
    errors = {status: failures} if failures else {}
    return OperationStats(
        s.operation,
        s.count,
        failures,
        s.rps,
        s.min,
        s.mean * factor,
        s.p50 * factor,
        s.p90 * factor,
        s.p95 * factor,
        s.p99 * factor,
        s.max * factor,
        errors,
    )


def _total(stats: dict[str, OperationStats]) -> OperationStats:
    ops = list(stats.values())
    count = sum(s.count for s in ops)

    def top(name: str) -> float:
        return max(float(getattr(s, name)) for s in ops)

    errors: dict[str, int] = {}
    for s in ops:
        for k, v in s.errors_by_status.items():
            errors[k] = errors.get(k, 0) + v
    mean = sum(s.mean * s.count for s in ops) / count
    return OperationStats(
        TOTAL,
        count,
        sum(s.failures for s in ops),
        sum(s.rps for s in ops),
        min(s.min for s in ops),
        mean,
        sum(s.p50 * s.count for s in ops) / count,
        top("p90"),
        top("p95"),
        top("p99"),
        top("max"),
        errors,
    )


def _compare(op: str, metric: str, old: float, new: float, rng: random.Random) -> Comparison:
    delta = (new - old) / old * 100 if old else 0.0
    big = abs(delta) >= 10 if metric == "p95" else abs(new - old) >= 0.01
    if big:
        width = abs(delta) * rng.uniform(0.1, 0.3)
        verdict = "regression" if (delta > 0) != (metric == "rps") else "improvement"
        p = rng.uniform(1e-6, 1e-3)
    else:
        width = rng.uniform(3, 8)
        verdict, p = "unchanged", rng.uniform(0.2, 1.0)
    return Comparison(
        op, metric, old, new, delta, delta - width, delta + width, p / 2, p, verdict,
        "synthetic", 20, 20, "synthetic", big,
    )  # fmt: skip


def synthetic_run(run_id: int, fault: str, seed: int) -> Synthetic:
    """One run with ``fault`` injected (see the module doc); the same for the same
    arguments. Raises ValueError for a fault not in ``FAULTS``."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
    rng = random.Random(f"{seed}:{run_id}:{fault}")
    ops = rng.choice(SERVICES)
    base = {op: _stats(op, rng, rng.uniform(2, 20), rng.uniform(10, 50)) for op in ops}
    target = rng.choice(ops) if fault in ("slowdown", "errors") else None
    head: dict[str, OperationStats] = {}
    for op, s in base.items():
        factor = rng.uniform(0.97, 1.03)
        if fault == "slowdown" and op == target:
            factor = rng.uniform(2, 8)
        elif fault == "cpu":
            factor = rng.uniform(1.5, 3)
        failures = (
            int(s.count * rng.uniform(0.05, 0.3)) if fault == "errors" and op == target else 0
        )
        head[op] = _scaled(s, factor, failures, rng.choice(("500", "502", "503")))
    base[TOTAL], head[TOTAL] = _total(base), _total(head)

    comparisons = [_compare(op, "p95", base[op].p95, head[op].p95, rng) for op in [TOTAL, *ops]] + [
        _compare(op, "error_rate", base[op].error_rate, head[op].error_rate, rng) for op in ops
    ]
    cpu_base = rng.uniform(15, 45)
    cpu_head = rng.uniform(90, 99) if fault == "cpu" else cpu_base * rng.uniform(0.95, 1.05)
    work = rng.uniform(1.5, 3) if fault == "cpu" else rng.uniform(0.95, 1.05)
    rss = rng.randint(40, 120) * MB
    growth = rng.randint(80, 300) * MB if fault == "memory" else rng.randint(0, 4) * MB
    base_res = ResourceSummary(cpu_base, cpu_base * 1.3, cpu_base / 100 * DURATION_S, rss, rss, rss)
    head_res = ResourceSummary(
        cpu_head,
        min(100.0, cpu_head * 1.2),
        cpu_base / 100 * DURATION_S * work,
        rss,
        rss + growth,
        rss + growth + MB,
    )
    findings = latency_findings(head, base, comparisons) + resource_findings(
        head_res, head[TOTAL], base_res, base[TOTAL]
    )

    relative, errors = parse_gate("p95 <= +10%"), parse_gate("error_rate < 1%")
    outcomes = []
    for c in comparisons:
        if c.metric == "p95" and c.operation != TOTAL and c.delta_pct is not None:
            passed = c.delta_pct <= relative.threshold
            outcomes.append(GateOutcome(relative, c.operation, c.delta_pct, passed))
    for op in ops:
        rate = head[op].error_rate
        outcomes.append(GateOutcome(errors, op, rate, rate < errors.threshold))
    failed = [o for o in outcomes if o.passed is False]
    verdict = Verdict(
        "fail" if failed else "pass",
        tuple(outcomes),
        f"{failed[0].gate.label} failed on {failed[0].operation}" if failed else "all gates passed",
    )
    evidence = RunEvidence(
        run_id=run_id,
        verdict=verdict,
        stats=head,
        comparisons=comparisons,
        findings=findings,
        resources={"base": base_res, "head": head_res},
        environment={"profile": "load", "cpus": 2, "compare": "interleaved"},
        baseline_note="the base commit, side by side",
    )
    return Synthetic(evidence, fault, target)
