"""One live series point per operation and whole second for N execution segments.

Each k6 process pushes its own deltas about once a second; handed on as they come, N
runners' points of one second looked like N seconds of 1/N of the rate (the series
keeps one point per operation and second). ``SecondMerger`` keeps each push's
per-operation delta histogram and counts under the whole second it ends in and hands a
second on once every segment seen so far has pushed a later one (or, for one that
stopped pushing, ``LAG_S`` later): counts summed, latencies from the merged
histograms, never averaged percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from plog_ci.results import TOTAL, SeriesPoint
from plog_ci.runner.histogram import Histogram, merge

LAG_S = 3  # seconds a silent segment may hold back a second


@dataclass
class _Second:
    hists: list[Histogram] = field(default_factory=list)
    count: int = 0
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class SecondMerger:
    """Per-segment deltas in, merged whole-second points out (not thread-safe: the
    capture calls it under its lock)."""

    def __init__(self, operations: tuple[str, ...]) -> None:
        self.operations = operations
        self._seconds: dict[int, dict[str, _Second]] = {}
        self._latest: dict[str, int] = {}  # segment -> the last second it pushed

    def add_point(self, segment: str, point: SeriesPoint, hist: Histogram) -> None:
        """One operation's delta from one push of ``segment`` (``point.second``: the
        push's time, Unix seconds)."""
        second = int(point.second)
        if second <= 0:
            return
        self._latest[segment] = max(second, self._latest.get(segment, 0))
        acc = self._seconds.setdefault(second, {}).setdefault(point.operation, _Second())
        acc.hists.append(hist)
        acc.count += point.count
        acc.failures += point.failures
        for status, n in point.errors_by_status.items():
            acc.errors[status] = acc.errors.get(status, 0) + n

    def ready(self) -> list[SeriesPoint]:
        """The seconds every segment has pushed past (or that are ``LAG_S`` older than
        the newest push), oldest first."""
        if not self._latest:
            return []
        newest = max(self._latest.values())
        done = max(min(self._latest.values()), newest - LAG_S + 1)
        return self._emit([s for s in sorted(self._seconds) if s < done])

    def drain(self) -> list[SeriesPoint]:
        """Every second still held (the load has ended)."""
        return self._emit(sorted(self._seconds))

    def _emit(self, seconds: list[int]) -> list[SeriesPoint]:
        out: list[SeriesPoint] = []
        for second in seconds:
            ops = self._seconds.pop(second)
            points = [_point(op, second, ops[op]) for op in self.operations if op in ops]
            if points:
                every = [h for op in ops.values() for h in op.hists]
                out += [*points, _point(TOTAL, second, _total(ops.values()), every)]
        return out


def _total(ops: Iterable[_Second]) -> _Second:
    acc = _Second()
    for op in ops:
        acc.count += op.count
        acc.failures += op.failures
        for status, n in op.errors.items():
            acc.errors[status] = acc.errors.get(status, 0) + n
    return acc


def _point(
    operation: str, second: int, acc: _Second, hists: list[Histogram] | None = None
) -> SeriesPoint:
    merged = merge(hists if hists is not None else acc.hists)
    return SeriesPoint(
        operation=operation,
        second=float(second),
        count=acc.count,
        failures=min(acc.failures, acc.count),
        mean=merged.mean * 1000.0,
        p50=merged.quantile(0.50) * 1000.0,
        p90=merged.quantile(0.90) * 1000.0,
        p95=merged.quantile(0.95) * 1000.0,
        p99=merged.quantile(0.99) * 1000.0,
        errors_by_status=acc.errors,
    )
