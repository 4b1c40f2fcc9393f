"""What a load test measured: per-operation statistics and the run around them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from plog_ci.errors import InputError

# Latency fields are milliseconds; error_rate is a fraction (0.01 = 1%).
LATENCY_FIELDS = ("min", "mean", "p50", "p90", "p95", "p99", "max")
# The operation name of the whole run: in OperationStats, and in the live series the
# point of all operations together (latencies from the merged histograms).
TOTAL = "*"


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
class SetupTally:
    """What one producer made before the load, on one side (``""`` for a run of one
    side, else ``"base"``/``"head"``): of the ``tried`` requests, ``answered`` got a
    documented status and ``created`` gave an id that the operations needing one read
    (``answered - created``: the id was not found in the answer) (issue 17, item 10)."""

    producer: str  # "POST /buckets"
    side: str
    created: int
    tried: int
    answered: int


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
    # Why k6 stopped before the planned end (a threshold with abortOnFail), or None;
    # duration_s is then the time it really ran.
    aborted: str | None = None
    # A few failed exchanges per operation (plog_ci.runner.exchanges), redacted.
    exchanges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # What each producer created before the load (all sides of the k6 process).
    setup: tuple[SetupTally, ...] = ()
    # Why the load generator fell short of the planned rate (a runner's dropped
    # iterations, its CPU), or None: the service's limit is not to be read from it.
    load_limit: str | None = None


@dataclass(frozen=True)
class SeriesPoint:
    """What one operation did in one interval of about a second: the one shape of the
    live series, from the capture through the sinks (SQLite, InfluxDB) to the statistics.

    ``second`` is Unix time in seconds at the end of the interval: fractional as the
    capture reads it from k6's push, a whole second once ``SeriesFanout`` has placed it
    (and as stored). Latencies are milliseconds; None where the source did not keep that
    field (stored points keep p50, p90, p95, p99 and max).

    Raises InputError for a point that no measurement can produce (negative or
    non-numeric counts or latencies, more failures than requests, no operation).
    """

    operation: str
    second: float
    count: int
    failures: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    min: float | None = None
    mean: float | None = None
    p90: float | None = None
    errors_by_status: dict[str, int] = field(default_factory=dict)
    segment: str = ""  # which k6 process pushed it ("" for a single run)

    def __post_init__(self) -> None:
        where = f"series point {self.operation!r} at {self.second!r}"
        if not isinstance(self.operation, str) or not self.operation:
            raise InputError(f"{where}: operation must be a non-empty string")
        if (
            isinstance(self.second, bool)
            or not isinstance(self.second, int | float)
            or not self.second >= 0
        ):
            raise InputError(f"{where}: second = {self.second!r} is not a Unix time")
        for name in ("count", "failures"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InputError(f"{where}: {name} = {v!r} is not a non-negative integer")
        if self.failures > self.count:
            raise InputError(f"{where}: failures {self.failures} > count {self.count}")
        for name in LATENCY_FIELDS:
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise InputError(f"{where}: {name} = {v!r} is not a latency in ms")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stored(self) -> tuple[float | None, ...]:
        """The latencies the results store keeps: p50, p90, p95, p99, max."""
        return (self.p50, self.p90, self.p95, self.p99, self.max)
