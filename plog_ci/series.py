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
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

from plog_ci.results import SeriesPoint


class SeriesSink(Protocol):
    """A destination of a run's live series.

    ``add`` gets each batch of whole-second points, in time order, on the main
    thread, about once a second; it should return quickly (hold and write later
    if the destination is remote). ``stop`` is called exactly once when the run
    ends, however it ends: ``error`` is None when the run was recorded with its
    verdict, else what ended it (an error, Ctrl-C). Like k6's outputs
    (``StopWithTestError``), a sink decides what an ended run means to it: the
    InfluxDB sink writes completed runs only.

    Which runs stream: the head alone and duet runs push per-second points as k6
    measures them; an interleaved run (the default side by side) is measured in
    blocks per side and round, and streams nothing yet.
    """

    def add(self, points: Sequence[SeriesPoint]) -> None: ...

    def stop(self, error: BaseException | None) -> None: ...


class SeriesFanout:
    """Collects the capture's points (any thread) and fans them out to the sinks."""

    def __init__(self, sinks: Sequence[SeriesSink] = ()) -> None:
        self.sinks = list(sinks)
        self.pending: deque[SeriesPoint] = deque()
        self.last_second: dict[str, int] = {}

    def register(self, sink: SeriesSink) -> None:
        self.sinks.append(sink)

    def collect(self, points: list[SeriesPoint]) -> None:
        """The capture's ``on_second`` callback: queue only (it runs on another thread)."""
        self.pending.extend(points)

    def flush(self) -> None:
        """Hand what is queued to every sink, each point on a whole second."""
        batch = []
        while self.pending:
            p = self.pending.popleft()
            # k6 pushes about once a second, not on the second: two pushes can fall in
            # one wall-clock second, and the series keeps one point per second. The later
            # one takes the next second (the drift undoes itself at the next push).
            second = max(int(p.second), self.last_second.get(p.operation, -1) + 1)
            self.last_second[p.operation] = second
            batch.append(dataclasses.replace(p, second=second))
        if batch:
            for sink in self.sinks:
                sink.add(batch)

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
