"""What a load test measured: per-operation statistics and the run around them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Latency fields are milliseconds; error_rate is a fraction (0.01 = 1%).
LATENCY_FIELDS = ("min", "mean", "p50", "p90", "p95", "p99", "max")


@dataclass(frozen=True)
class OperationStats:
    operation: str  # "GET /pets/{petId}", or "*" for the whole run
    count: int
    failures: int
    rps: float
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    errors_by_status: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.failures / self.count if self.count else 0.0

    def metric(self, name: str) -> float:
        if name == "error_rate":
            return self.error_rate
        if name == "rps":
            return self.rps
        if name == "count":
            return float(self.count)
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_rate"] = self.error_rate
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationStats:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


@dataclass(frozen=True)
class LoadResult:
    """Everything one k6 run produced that later stages need."""

    operations: dict[str, OperationStats]
    total: OperationStats
    duration_s: float
    k6_exit_code: int
    script_hash: str
    thresholds_crossed: tuple[str, ...] = ()
    # Native histograms of http_req_duration (seconds) per operation, mergeable
    # across runs and segments: see plog_ci.runner.histogram.Histogram.to_dict.
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The most recent per-second points (bounded; the live stream sees them all).
    series: tuple[SeriesPoint, ...] = ()
    # Requests that ran during setup/teardown (dependencies, cleanup), not measured.
    setup_requests: int = 0
    # What k6's own end-of-test summary said, when it was written (for fidelity checks).
    k6_summary: dict[str, OperationStats] = field(default_factory=dict)


@dataclass(frozen=True)
class SeriesPoint:
    """One second of one operation, as k6 pushed it (latencies in ms)."""

    t: float  # unix seconds at the end of the interval
    operation: str
    requests: int
    failures: int
    rps: float
    mean: float
    p50: float
    p95: float
    p99: float
    errors_by_status: dict[str, int] = field(default_factory=dict)
    segment: str = ""  # which k6 process ("" for a single run)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
