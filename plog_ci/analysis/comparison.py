"""What a comparison of two runs yields and how it is set: the metric names, the
settings of the statistics and :class:`Comparison`, one operation and metric.

Plain data, without numpy or scipy: reading or rendering comparisons (the relative
gates, the tables, the findings) does not pay for the libraries that compute them
(``analysis.stats``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plog_ci.errors import InputError

LATENCY_METRICS = ("p50", "p95", "p99")
# The metrics the statistics compare (a gate's metrics: gate_grammar.GATE_METRICS).
COMPARED_METRICS = (*LATENCY_METRICS, "error_rate", "rps")

# What ``plog history`` can follow run by run (OperationStats fields and the error rate).
HISTORY_METRICS = ("p50", "p90", "p95", "p99", "mean", "max", "min", "error_rate", "rps", "count")
VERDICTS = ("regression", "improvement", "unchanged", "no-verdict")


@dataclass(frozen=True)
class StatsSettings:
    alpha: float = 0.01  # family-wise (Holm) or false-discovery (BH) level
    correction: str = "holm"  # "holm" | "bh" | "none"
    min_effect_pct: float = 5.0  # smaller changes are reported as unchanged
    min_error_rate_delta: float = 0.001  # absolute: 0.1 percentage point
    min_blocks: int = 6
    min_requests: int = 100  # per run, for the error-rate test
    bootstrap_resamples: int = 2000
    # Monte Carlo relabellings of the paired pooled-quantile test (min p = 1/20000).
    permutations: int = 19999
    seed: int = 0
    # Sequential comparisons: degrees of freedom of the run-to-run noise needed for a verdict.
    min_noise_df: int = 3
    paired: bool = False  # blocks i of both runs are interleaved neighbours
    metrics: tuple[str, ...] = ("p95", "error_rate", "rps")

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InputError(f"stats alpha {self.alpha!r} must lie strictly between 0 and 1")
        if self.correction not in ("holm", "bh", "none"):
            raise InputError(f"unknown correction {self.correction!r}", hint="use holm, bh or none")
        if self.min_effect_pct < 0 or self.min_error_rate_delta < 0:
            raise InputError("minimum effect sizes must not be negative")
        if self.min_blocks < 2:
            raise InputError(f"min_blocks {self.min_blocks} must be at least 2")
        if self.bootstrap_resamples < 100:
            raise InputError("bootstrap_resamples must be at least 100")
        if self.permutations < 999:
            raise InputError("permutations must be at least 999")
        for m in self.metrics:
            if m not in COMPARED_METRICS:
                raise InputError(
                    f"unknown metric {m!r} to compare",
                    hint=f"use one of {', '.join(COMPARED_METRICS)}",
                )


@dataclass(frozen=True)
class Comparison:
    """One operation and metric: baseline (old) against the new run."""

    operation: str
    metric: str
    old: float | None
    new: float | None
    delta_pct: float | None  # (new - old) / old * 100; inf when old is 0 and new is not
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    p_adjusted: float | None
    verdict: str  # one of VERDICTS
    reason: str
    n_old: int = 0  # blocks (latency, rps) or requests (error_rate)
    n_new: int = 0
    test: str = ""
    significant: bool = False

    def to_dict(self) -> dict[str, Any]:
        def num(v: float | None) -> float | str | None:
            if v is None:
                return None
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return round(v, 6)

        return {
            "operation": self.operation,
            "metric": self.metric,
            "old": num(self.old),
            "new": num(self.new),
            "delta_pct": num(self.delta_pct),
            "ci_low_pct": num(self.ci_low_pct),
            "ci_high_pct": num(self.ci_high_pct),
            "p_value": num(self.p_value),
            "p_adjusted": num(self.p_adjusted),
            "verdict": self.verdict,
            "reason": self.reason,
            "n_old": self.n_old,
            "n_new": self.n_new,
            "test": self.test,
            "significant": self.significant,
        }
