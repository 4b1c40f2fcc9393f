"""Where a run's live series goes: sinks behind one small interface, fed by one fan-out.

The shape follows k6's outputs (``output/types.go``, ``output/manager.go``): every
destination implements the same few methods and one manager hands each batch of
samples to all of them. Here the samples are ``SeriesPoint``s, one per operation
and second; the sinks are the results store (``store.details.SeriesWriter``),
InfluxDB (``store.influx_export.InfluxSeries``) and, next, the dashboard stream.

Threads: k6's pushes arrive on the capture's HTTP thread, and SQLite connections
belong to the thread that opened them, so ``collect`` only queues; ``flush`` (on
the main thread, at every progress tick and once after k6 ends) places the points
on whole seconds and hands them to the sinks.

What ``second`` means in the series (and the store's ``series.second`` column): Unix
time in whole seconds, the second the interval ended in, strictly increasing per
operation within a run. It starts at the run's first second with requests: the
capture's points before any request (k6 pushes while a slow setup or the first
request is still under way) carry no time (``second`` 0) and no requests, and are
not part of the series. (Before this was enforced, those points were placed at
0, 1, 2, ... and the store held 0-4 and then epoch seconds within one run.)

Each push also carries the point of all operations together (operation ``TOTAL``,
latencies from the merged histograms): only sinks whose ``wants_total`` is true get
it (the dashboard's ``store.live.LiveWriter``); the others see operations only.

Side by side, both sides also stream to the sinks that show the load as it runs
(``SideSink``, the live line): ``watch(side)`` is the capture's callback for one
side. Those points are shown, never stored: the store keeps an interleaved run's
blocks, and a duet's head series only.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, runtime_checkable

from plog_ci.results import TOTAL, SeriesPoint


class SeriesSink(Protocol):
    """A destination of a run's live series.

    ``add`` gets each batch of whole-second points, in time order, on the main
    thread, about once a second; it should return quickly (hold and write later
    if the destination is remote). ``stop`` is called exactly once when the run
    ends, however it ends: ``error`` is None when the run was recorded with its
    verdict, else what ended it (an error, Ctrl-C). Like k6's outputs
    (``StopWithTestError``), a sink decides what an ended run means to it: the
    InfluxDB sink writes completed runs only.

    Which runs stream to ``add``: the head alone, and a duet's head, push
    per-second points as k6 measures them; an interleaved run (the default side by
    side) is measured in blocks per side and round, and gives ``add`` nothing (its
    points go to ``SideSink.add_sides`` only).
    """

    def add(self, points: Sequence[SeriesPoint]) -> None: ...

    def stop(self, error: BaseException | None) -> None: ...


@runtime_checkable
class SideSink(Protocol):
    """A sink that also shows both sides of a side-by-side run (the live line).

    ``add_sides`` gets, at each flush where a side pushed, side ("base", "head") ->
    that side's points since the last flush, as the capture read them (``second``:
    the push's Unix time, fractional; only points with requests), before ``add``
    gets the same flush's stored batch.
    """

    def add_sides(self, points: Mapping[str, Sequence[SeriesPoint]]) -> None: ...


class SeriesFanout:
    """Collects the capture's points (any thread) and fans them out to the sinks."""

    def __init__(self, sinks: Sequence[SeriesSink] = ()) -> None:
        self.sinks = list(sinks)
        self.pending: deque[SeriesPoint] = deque()
        self.side_pending: deque[tuple[str, list[SeriesPoint]]] = deque()
        self.last_second: dict[str, int] = {}
        self.started = False  # a point with requests was placed: the series has begun

    def register(self, sink: SeriesSink) -> None:
        self.sinks.append(sink)

    def collect(self, points: list[SeriesPoint]) -> None:
        """The capture's ``on_second`` callback: queue only (it runs on another thread)."""
        self.pending.extend(points)

    def watch(self, side: str) -> Callable[[list[SeriesPoint]], None]:
        """A capture callback for one side of a side-by-side run: its points with
        requests are queued for the ``SideSink``s only (any thread; queue only)."""

        def collect(points: list[SeriesPoint]) -> None:
            busy = [p for p in points if p.count > 0]
            if busy:
                self.side_pending.append((side, busy))

        return collect

    def flush(self) -> None:
        """Hand what is queued to every sink, each point on a whole second (sides first,
        to the ``SideSink``s)."""
        sides: dict[str, list[SeriesPoint]] = {}
        while self.side_pending:
            side, points = self.side_pending.popleft()
            sides.setdefault(side, []).extend(points)
        if sides:
            plain = {side: _operations(points) for side, points in sides.items()}
            for sink in self.sinks:
                if isinstance(sink, SideSink):
                    sink.add_sides(sides if _wants_total(sink) else plain)
        queued = []
        while self.pending:
            queued.append(self.pending.popleft())
        if not self.started:
            # The series begins with the first push that holds requests (all of its
            # operations, those with none too); a push's points share its time.
            first = min((p.second for p in queued if p.count > 0 and p.second > 0), default=None)
            queued = [] if first is None else [p for p in queued if p.second >= first]
            self.started = first is not None
        batch = []
        for p in queued:
            if p.second <= 0:  # no time: the push held no request (a segment's first)
                continue
            # k6 pushes about once a second, not on the second: two pushes can fall in
            # one wall-clock second, and the series keeps one point per second. The later
            # one takes the next second (the drift undoes itself at the next push).
            second = max(int(p.second), self.last_second.get(p.operation, -1) + 1)
            self.last_second[p.operation] = second
            batch.append(dataclasses.replace(p, second=second))
        if batch:
            operations = _operations(batch)
            for sink in self.sinks:
                if _wants_total(sink):
                    sink.add(batch)
                elif operations:
                    sink.add(operations)

    def ticker(self, progress: Callable[[float], None]) -> Callable[[float], None]:
        """An ``on_tick`` for the runner: show progress, then flush."""

        def tick(elapsed: float) -> None:
            progress(elapsed)
            self.flush()

        return tick

    def stop(self, error: BaseException | None = None) -> None:
        """Flush, then stop every sink (``error``: see ``SeriesSink.stop``)."""
        if error is None:
            self.flush()
        for sink in self.sinks:
            sink.stop(error)

    def stop_on_exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        """``stop`` as an exit callback (``ExitStack.push``); never swallows ``exc``."""
        self.stop(exc)
        return False


def _operations(points: Sequence[SeriesPoint]) -> list[SeriesPoint]:
    return [p for p in points if p.operation != TOTAL]


def _wants_total(sink: object) -> bool:
    return bool(getattr(sink, "wants_total", False))
