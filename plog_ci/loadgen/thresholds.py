"""Gates from plog.yml → k6 thresholds, where k6 can evaluate them.

k6 evaluates absolute gates while the test runs, so a catastrophic run stops
early: an error rate above 50% always aborts (``abortOnFail``), and in the
breakpoint profile every failing gate does. Relative gates (``+10%``) need a
baseline and stay with PLog; so do ``warn`` gates (they must not abort).
"""

from __future__ import annotations

from typing import Any

from plog_ci.gate_grammar import Gate
from plog_ci.openapi.names import lookup

CATASTROPHIC_ERROR_RATE = 0.5
ABORT_DELAY = "5s"  # let a few seconds of data in before judging
_TREND = {
    "p50": "p(50)",
    "p90": "p(90)",
    "p95": "p(95)",
    "p99": "p(99)",
    "mean": "avg",
    "min": "min",
    "max": "max",
}


def _expression(gate: Gate) -> tuple[str, str] | None:
    value = f"{gate.threshold:g}"
    if gate.metric in _TREND:
        return "http_req_duration", f"{_TREND[gate.metric]}{gate.op}{value}"
    if gate.metric == "error_rate":
        return "http_req_failed", f"rate{gate.op}{value}"
    if gate.metric == "rps":
        return "http_reqs", f"rate{gate.op}{value}"
    if gate.metric == "count":
        return "http_reqs", f"count{gate.op}{value}"
    return None


def selectors(operations: tuple[str, ...], model: str) -> dict[str, str]:
    """The k6 submetric selector for each operation.

    In the open model each operation has its own scenario, a name that PLog
    chose (``op3``); spec-derived names only serve in the closed model, and
    only when k6's ``{tag:value}`` syntax cannot misread them.
    """
    if model == "open":
        return {op: f"scenario:op{i}" for i, op in enumerate(operations)}
    return {op: f"name:{op}" for op in operations if not set(op) & set("{}:,\"'\\`")}


def thresholds(
    gates: tuple[Gate, ...],
    selector: dict[str, str],
    *,
    abort_all: bool = False,
    only: str = "",
) -> dict[str, list[Any]]:
    """k6 thresholds for ``gates``.

    ``only`` (``tag:value``) narrows every threshold to those requests. A duet or
    an interleaved run passes its head's side tag: the gates judge the head, a
    healthy base must not dilute a broken head's error rate below the abort
    line, and a broken base must not cut the head's measurement short (its
    errors show in the comparison instead).
    """
    catastrophic = {
        "threshold": f"rate<{CATASTROPHIC_ERROR_RATE:g}",
        "abortOnFail": True,
        "delayAbortEval": ABORT_DELAY,
    }
    out: dict[str, list[Any]] = {
        f"http_req_failed{{{only}}}" if only else "http_req_failed": [catastrophic]
    }
    also = f",{only}" if only else ""  # joins an operation's selector
    for gate in gates:
        if gate.relative or gate.level != "fail":
            continue
        mapped = _expression(gate)
        if mapped is None:
            continue
        metric, expr = mapped
        # A gate's operation is matched as load.operations are (openapi.names):
        # plog.yml's GET /jobs/{id} is the script's GET /jobs/{jobId}.
        if gate.operation is None:
            targets = list(selector)
        else:
            found = lookup({op: op for op in selector}, gate.operation)
            targets = [found] if found is not None else []
        for op in targets:
            entry: Any = (
                {"threshold": expr, "abortOnFail": True, "delayAbortEval": ABORT_DELAY}
                if abort_all
                else expr
            )
            out.setdefault(f"{metric}{{{selector[op]}{also}}}", []).append(entry)
    return out
