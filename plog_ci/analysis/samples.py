"""What the statistics compare: the per-block measurements of one operation in one run
(:class:`OperationSamples`), the run-level values of a sequential comparison
(:class:`RunLevelSamples`), and their builders from per-second series points and
from HDR histograms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from plog_ci.errors import InputError
from plog_ci.results import SeriesPoint
from plog_ci.runner.histogram import Histogram


@dataclass(frozen=True)
class OperationSamples:
    """Per-block measurements of one operation in one run.

    Every non-empty sequence has one entry per block. Latencies are
    milliseconds; a block with ``counts[i] == 0`` may carry NaN percentiles
    and is left out of the latency and throughput tests. ``durations_s``
    empty means each block lasted one second (per-second series).
    """

    operation: str
    block_p50s: tuple[float, ...] = ()
    block_p95s: tuple[float, ...] = ()
    block_p99s: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    failures: tuple[int, ...] = ()
    durations_s: tuple[float, ...] = ()
    # Each block's latency histogram (seconds), when kept: paired comparisons then
    # test the quantile of the pooled blocks (see analysis.pooled_quantiles).
    histograms: tuple[Histogram, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.counts)
        where = f"samples of {self.operation!r}"
        for name in (
            "block_p50s",
            "block_p95s",
            "block_p99s",
            "failures",
            "durations_s",
            "histograms",
        ):
            values = getattr(self, name)
            if values and len(values) != n:
                raise InputError(
                    f"{where}: {name} has {len(values)} blocks but counts has {n}",
                    hint="give one value per block in every sequence",
                )
        for i, c in enumerate(self.counts):
            if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise InputError(f"{where}: counts[{i}] = {c!r} is not a count")
        for i, f in enumerate(self.failures):
            if not isinstance(f, int) or isinstance(f, bool) or f < 0 or f > self.counts[i]:
                raise InputError(f"{where}: failures[{i}] = {f!r} is not a count <= counts[{i}]")
        for i, d in enumerate(self.durations_s):
            if not (isinstance(d, int | float) and math.isfinite(d) and d > 0):
                raise InputError(f"{where}: durations_s[{i}] = {d!r} is not a positive number")
        for name in ("block_p50s", "block_p95s", "block_p99s"):
            for i, v in enumerate(getattr(self, name)):
                ok = isinstance(v, int | float) and not isinstance(v, bool)
                if ok and math.isnan(v):
                    ok = self.counts[i] == 0  # an empty block has no percentile
                elif ok:
                    ok = math.isfinite(v) and v >= 0
                if not ok:
                    raise InputError(
                        f"{where}: {name}[{i}] = {v!r} is not a latency in ms",
                        hint="latencies are finite, non-negative milliseconds",
                    )

    def latency(self, metric: str) -> NDArray[np.float64]:
        values = np.asarray(getattr(self, f"block_{metric}s"), dtype=float)
        if values.size == 0:
            return values
        return values[np.asarray(self.counts) > 0]

    def throughput(self) -> NDArray[np.float64]:
        counts = np.asarray(self.counts, dtype=float)
        durations = np.asarray(self.durations_s or (1.0,) * len(counts), dtype=float)
        rates: NDArray[np.float64] = counts / durations
        return rates


@dataclass(frozen=True)
class RunLevelSamples:
    """One latency metric of one operation, run by run (sequential comparisons).

    Two runs measured minutes apart differ by more than their seconds suggest: the
    machine drifts between them. So a sequential comparison takes the run as its
    unit: ``old`` holds the metric of each baseline run (ms), ``new`` the head's,
    and ``sigma`` the run-to-run standard deviation of the log metric, pooled over
    repeated runs of the same commits (``df`` degrees of freedom); None when the
    store holds no repeated runs to measure it.
    """

    old: tuple[float, ...]
    new: float
    sigma: float | None
    df: int


def samples_from_seconds(points: Iterable[SeriesPoint]) -> dict[str, OperationSamples]:
    """Per-second points as one-second blocks, per operation, in the order given."""
    grouped: dict[str, list[SeriesPoint]] = {}
    for p in points:
        grouped.setdefault(p.operation, []).append(p)

    def lat(v: float | None, count: int) -> float:
        return math.nan if v is None or count == 0 else float(v)

    return {
        op: OperationSamples(
            op,
            block_p50s=tuple(lat(p.p50, p.count) for p in rows),
            block_p95s=tuple(lat(p.p95, p.count) for p in rows),
            block_p99s=tuple(lat(p.p99, p.count) for p in rows),
            counts=tuple(p.count for p in rows),
            failures=tuple(p.failures for p in rows),
        )
        for op, rows in grouped.items()
    }
