"""Abort gates judged by PLog on the merged result of N runners, once a second.

One k6 process judges its ``abortOnFail`` thresholds itself
(``plog_ci.loadgen.thresholds``). N runners (execution segments, local or
k6-operator pods) would each judge only their own share, so they run with
``--no-thresholds`` and PLog judges the same gates on the capture's merged
state instead: the catastrophic error rate always, and in the breakpoint
profile every absolute ``fail`` gate k6 could evaluate. When one fails, the
caller stops every runner and the run ends ``aborted`` with ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from plog_ci.gate_grammar import Gate
from plog_ci.loadgen.thresholds import ABORT_DELAY, CATASTROPHIC_ERROR_RATE
from plog_ci.openapi.names import lookup
from plog_ci.results import TOTAL, OperationStats

# k6's threshold for an error rate above which any run aborts (plog_ci.loadgen.thresholds).
CATASTROPHIC = Gate(
    f"error_rate < {CATASTROPHIC_ERROR_RATE * 100:g}%", "error_rate", "<", CATASTROPHIC_ERROR_RATE
)
# A count floor ("count > 1000") cannot hold early in a run: it is judged at the end only.
_FLOORS = (">", ">=")
JUDGED_METRICS = ("p50", "p90", "p95", "p99", "mean", "min", "max", "error_rate", "rps", "count")


def abort_gates(gates: tuple[Gate, ...], *, breakpoint: bool) -> tuple[Gate, ...]:
    """The gates that stop a run early, as ``thresholds()`` gives them ``abortOnFail``.

    Always the catastrophic error rate on the whole run; with ``breakpoint`` also
    every absolute ``fail`` gate on a metric k6 could judge, but no count floor.
    """
    out = [CATASTROPHIC]
    if breakpoint:
        out += [
            g
            for g in gates
            if not g.relative
            and g.level == "fail"
            and g.metric in JUDGED_METRICS
            and not (g.metric == "count" and g.op in _FLOORS)
        ]
    return tuple(out)


def _delay_s() -> float:
    return float(ABORT_DELAY.removesuffix("s"))


@dataclass
class AbortWatch:
    """Judges ``gates`` on merged statistics at most once per ``every_s`` seconds,
    from ``delay_s`` seconds after the first data (k6's ``delayAbortEval``)."""

    gates: tuple[Gate, ...]
    runners: int
    delay_s: float = _delay_s()
    every_s: float = 1.0
    _last: float = -math.inf

    def due(self, elapsed_s: float) -> bool:
        """Whether a check is due ``elapsed_s`` seconds into the run (and mark it done)."""
        if elapsed_s < self.delay_s or elapsed_s - self._last < self.every_s:
            return False
        self._last = elapsed_s
        return True

    def judge(self, per_op: Mapping[str, OperationStats], total: OperationStats) -> str | None:
        """Why the run must stop now (a gate that fails on the merged result), or None."""
        for gate in self.gates:
            for name, stats in _targets(gate, per_op, total):
                if stats is None or stats.count == 0:
                    continue
                value = stats.metric(gate.metric)
                if not gate.holds(value):
                    where = "the whole run" if name == TOTAL else name
                    return (
                        f"gate {gate.label} failed on {where} ({gate.metric} = "
                        f"{_fmt(gate.metric, value)}), judged on the merged result of "
                        f"{self.runners} runners (abortOnFail): PLog stopped every runner"
                    )
        return None


def _targets(
    gate: Gate, per_op: Mapping[str, OperationStats], total: OperationStats
) -> list[tuple[str, OperationStats | None]]:
    # The catastrophic gate is k6's http_req_failed over every request: the total.
    if gate is CATASTROPHIC or (gate.metric in ("rps", "count") and gate.operation is None):
        return [(TOTAL, total)]
    if gate.operation is not None:
        # Matched as load.operations are (openapi.names): {id} is {petId}.
        found = lookup({op: op for op in per_op}, gate.operation)
        return [(found, per_op[found])] if found is not None else []
    return sorted(per_op.items())


def _fmt(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    if metric in ("rps", "count"):
        return f"{value:.1f}"
    return f"{value:.1f}ms"
