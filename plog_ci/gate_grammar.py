"""The gate grammar: how plog.yml writes the conditions a run must meet.

Grammar (one gate per string; spaces around the operator are optional)::

    gate     := metric op value
    metric   := "p50" | "p90" | "p95" | "p99" | "min" | "max" | "mean" | "avg" | "med"
              | "p(" N ")"                  # k6 spelling, N in 50, 90, 95, 99
              | "error_rate" | "rps" | "count"
    op       := "<" | "<=" | ">" | ">="
    value    := number unit?               # absolute
              | ("+" | "-") number "%"      # relative to the baseline run
    unit     := "ms" | "s" | "us"           # latency metrics (default ms)
              | "%"                         # error_rate (else a fraction, 0.01)

Examples: ``p95 < 300ms``, ``p(99)<1s``, ``error_rate < 1%``, ``rps > 200``,
``p95 <= +10%`` (fails only when the p95 grew by more than 10%).

Relative gates need a comparable baseline; without one they give no verdict.
With per-block samples of both runs, ``analysis.relative_gates`` decides them
statistically: a relative gate fails only on a statistically significant change
beyond its threshold (see docs/statistics.md).

This module only parses (``config`` and ``loadgen`` read it); ``analysis.gates``
evaluates the parsed gates against a run.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from plog_ci.errors import ConfigError
from plog_ci.results import LATENCY_FIELDS

_ALIASES = {
    "avg": "mean",
    "med": "p50",
    "p(50)": "p50",
    "p(90)": "p90",
    "p(95)": "p95",
    "p(99)": "p99",
}
# The metrics a gate may name (analysis.comparison.COMPARED_METRICS: those it can compare).
GATE_METRICS = (*LATENCY_FIELDS, "error_rate", "rps", "count")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_GATE_RE = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*|p\(\d+\))\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<sign>[+-])?(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|us|s|%)?\s*$"
)
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001, None: 1.0}


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: str
    threshold: float  # ms for latency, fraction for error_rate, 1/s for rps; % for relative
    relative: bool = False
    operation: str | None = None  # None: every operation and the total
    level: str = "fail"  # "fail" | "warn"
    key: bool = False

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    @property
    def label(self) -> str:
        scope = f" [{self.operation}]" if self.operation else ""
        return f"{self.text}{scope}"


def parse_gate(
    text: str, *, operation: str | None = None, level: str = "fail", key: bool = False
) -> Gate:
    """Parse one gate; raise ConfigError with the grammar as a hint."""
    match = _GATE_RE.match(text)
    if not match:
        raise ConfigError(
            f"cannot parse gate {text!r}",
            hint="write 'METRIC OP VALUE', e.g. 'p95 < 300ms', 'error_rate < 1%', 'rps > 100', "
            "'p95 <= +10%'",
        )
    metric = _ALIASES.get(match["metric"], match["metric"])
    if metric not in GATE_METRICS:
        raise ConfigError(
            f"unknown metric {match['metric']!r} in gate {text!r}",
            hint=f"use one of {', '.join(GATE_METRICS)}",
        )
    number = float(match["number"])
    unit = match["unit"]
    if match["sign"]:
        if unit != "%":
            raise ConfigError(
                f"relative gate {text!r} needs a percentage", hint="write e.g. 'p95 <= +10%'"
            )
        threshold = number if match["sign"] == "+" else -number
        return Gate(text.strip(), metric, match["op"], threshold, True, operation, level, key)
    if metric in LATENCY_FIELDS:
        if unit == "%":
            raise ConfigError(
                f"gate {text!r}: latency takes a time unit (ms, s, us)",
                hint="write e.g. 'p95 < 300ms', or '+10%' for a relative gate",
            )
        threshold = number * _UNIT_MS[unit]
    elif metric == "error_rate":
        if unit in ("ms", "s", "us"):
            raise ConfigError(
                f"gate {text!r}: error_rate is a rate, not a time",
                hint="write e.g. 'error_rate < 1%'",
            )
        threshold = number / 100 if unit == "%" else number
    else:
        if unit is not None:
            raise ConfigError(
                f"gate {text!r}: {metric} takes a plain number", hint=f"write e.g. '{metric} > 100'"
            )
        threshold = number
    return Gate(text.strip(), metric, match["op"], threshold, False, operation, level, key)
