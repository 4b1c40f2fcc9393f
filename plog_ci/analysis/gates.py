"""Gate evaluation: the outcome of each gate on a run, and the run's verdict.

The gates themselves (what plog.yml writes and how it is parsed) live in
``plog_ci.gate_grammar``, below both ``config`` and ``analysis``. Relative gates
are decided against a baseline in ``analysis.relative_gates``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plog_ci.gate_grammar import Gate
from plog_ci.openapi.names import lookup
from plog_ci.results import LATENCY_FIELDS, OperationStats


@dataclass(frozen=True)
class GateOutcome:
    gate: Gate
    operation: str
    value: float | None
    passed: bool | None  # None: no verdict (no data or no baseline)
    detail: str = ""
    # The figures behind the outcome (old, new, delta_pct, CI, p-values), for reports.
    numbers: Mapping[str, float | None] = field(default_factory=dict, hash=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.passed is False and self.gate.level == "fail"


@dataclass(frozen=True)
class Verdict:
    status: str  # "pass" | "fail" | "no-verdict"
    outcomes: tuple[GateOutcome, ...] = field(default_factory=tuple)
    reason: str = ""

    @property
    def decisive(self) -> tuple[GateOutcome, ...]:
        return tuple(o for o in self.outcomes if o.failed)

    def outcome_rows(self) -> list[dict[str, Any]]:
        """One row per outcome, as the results store keeps them."""
        decisive = {id(o) for o in self.decisive}
        return [
            {
                "gate": o.gate.label,
                "operation": o.operation,
                "level": o.gate.level,
                "value": o.value,
                "passed": o.passed,
                "decisive": id(o) in decisive,
                "detail": o.detail,
            }
            for o in self.outcomes
        ]

    def to_json(self) -> dict[str, Any]:
        """The verdict as the results store and the reports record it."""
        return {
            "status": self.status,
            "reason": self.reason,
            "decided_by": [
                {
                    "gate": o.gate.label,
                    "operation": o.operation,
                    "value": o.value,
                    "detail": o.detail,
                }
                for o in self.decisive
            ],
            "outcomes": [
                {
                    "gate": o.gate.label,
                    "operation": o.operation,
                    "value": o.value,
                    "passed": o.passed,
                    "level": o.gate.level,
                    "detail": o.detail,
                }
                for o in self.outcomes
            ],
        }


# Built in, whatever plog.yml's gates say: an operation that was loaded must get answers.
COMPLETED = Gate("requests completed > 0", "count", ">", 0.0, key=True)
# How the capture keys failures without an HTTP status (plog_ci.runner.capture): k6's
# error code, or "no response". 1050 is k6's request timeout.
TIMEOUT_KEY = "error 1050"


def _unanswered(status: str) -> bool:
    return status == "no response" or status.startswith("error ")


def completion(operation: str, stats: OperationStats) -> GateOutcome | None:
    """A failed ``COMPLETED`` outcome when ``operation`` was loaded and no request of
    it got an answer (timeouts, connection errors, or nothing back before the load
    ended), else None."""
    unanswered = sum(n for k, n in stats.errors_by_status.items() if _unanswered(k))
    if stats.count - unanswered > 0:
        return None
    if stats.count == 0:
        detail = (
            f"{operation}: 0 requests completed (every request sent timed out: "
            "none was answered before the load ended)"
        )
    else:
        timed_out = stats.errors_by_status.get(TIMEOUT_KEY, 0)
        parts = [f"{timed_out} timed out"] if timed_out else []
        others = sorted((k, n) for k, n in stats.errors_by_status.items() if _unanswered(k))
        others = [(k, n) for k, n in others if k != TIMEOUT_KEY and n]
        parts += [
            f"{n} with no response" + (f", k6 {k}" if k.startswith("error ") else "")
            for k, n in others
        ]
        detail = f"{operation}: 0 of {stats.count} requests completed ({'; '.join(parts)})"
    return GateOutcome(COMPLETED, operation, 0.0, False, detail)


def _fmt(metric: str, value: float) -> str:
    if metric in LATENCY_FIELDS:
        return f"{value:.1f}ms"
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    return f"{value:.1f}"


def evaluate(
    gates: tuple[Gate, ...],
    stats: Mapping[str, OperationStats],
    total: OperationStats,
) -> Verdict:
    """Evaluate the absolute gates; a global gate applies to each operation (and
    throughput gates to the total).

    Relative gates need the statistics against a baseline: they are decided in
    ``analysis.relative_gates`` (``evaluate_with_comparisons``); here they give
    no verdict rather than a point comparison that noise could fail.

    Every operation in ``stats`` was loaded: one whose requests all went
    unanswered fails the run (``completion``), with or without gates.
    """
    outcomes: list[GateOutcome] = [
        o for name, s in sorted(stats.items()) if name != "*" and (o := completion(name, s))
    ]
    for gate in gates:
        if gate.relative:
            outcomes.append(
                GateOutcome(gate, gate.operation or "*", None, None, "needs a baseline comparison")
            )
            continue
        if gate.operation is not None:
            # Matched as load.operations are (openapi.names): {id} is {jobId}.
            targets = [(gate.operation, lookup(stats, gate.operation))]
        else:
            targets = [(name, s) for name, s in sorted(stats.items())]
            if gate.metric in ("rps", "count"):
                targets = [("*", total)]  # throughput gates read as "the run serves N/s"
        for name, current in targets:
            if current is None or current.count == 0:
                outcomes.append(GateOutcome(gate, name, None, None, "no requests measured"))
                continue
            value = current.metric(gate.metric)
            ok = gate.holds(value)
            outcomes.append(
                GateOutcome(
                    gate,
                    name,
                    value,
                    ok,
                    f"{gate.metric} = {_fmt(gate.metric, value)} "
                    f"(limit {gate.op} {_fmt(gate.metric, gate.threshold)})",
                )
            )
    return decide(outcomes)


def decide(outcomes: Sequence[GateOutcome]) -> Verdict:
    """The run's verdict from its gate outcomes: operations that got no answer first
    (their own reason), then a key gate, then any failed gate."""
    failed = [o for o in outcomes if o.failed]
    unanswered = [o for o in failed if o.gate is COMPLETED]
    if unanswered:
        return Verdict("fail", tuple(outcomes), "; ".join(o.detail for o in unanswered))
    key_failed = [o for o in failed if o.gate.key]
    if key_failed:
        o = key_failed[0]
        return Verdict(
            "fail", tuple(outcomes), f"key gate {o.gate.label} failed on {o.operation}: {o.detail}"
        )
    if failed:
        o = failed[0]
        return Verdict(
            "fail", tuple(outcomes), f"gate {o.gate.label} failed on {o.operation}: {o.detail}"
        )
    if outcomes and all(o.passed is None for o in outcomes):
        return Verdict("no-verdict", tuple(outcomes), "no gate could be evaluated")
    undecided = [o for o in outcomes if o.passed is None]
    if undecided:
        # Passing, but not "all held": say which gate could not be judged.
        o = undecided[0]
        more = f" (and {len(undecided) - 1} more)" if len(undecided) > 1 else ""
        where = "the whole run" if o.operation == "*" else o.operation
        return Verdict(
            "pass",
            tuple(outcomes),
            f"no gate failed; gate {o.gate.label} gave no verdict on {where}{more}",
        )
    return Verdict("pass", tuple(outcomes), "all gates held")
