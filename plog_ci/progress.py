"""The progress display of a run's long stages (stderr, so stdout stays parseable).

While the load runs, ``LiveTally`` (a sink of the run's live series,
``plog_ci.series``) turns each second into one line, requests per second, errors
and the p95 of the worst operation, shown beside the stage's bar on a terminal;
when the output is not a terminal (a CI log) a line is printed every few seconds
instead, as k6 prints its own progress there (issue 17, item 11).

A side-by-side run (interleaved or duet) shows base and head apart, from the
points each side's capture already computes (``SeriesFanout.watch``)::

    12 s: base 49 req/s, p95 4.1 ms, 0% errors | head 51 req/s, p95 4.3 ms, 0% errors
    | worst: GET /pets/{petId} p95 9.0 ms (base 8.7 ms)

Interleaved, each side is loaded half the time: its rate is about half of the
load's. The p95 of a side is the request-weighted mean of its operations' p95s
second by second (the live points keep no histograms): an approximation for the
eye, never used for a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from plog_ci.results import SeriesPoint


class StepMirror(Protocol):
    """Where the steps and their progress are also written (the dashboard's
    ``store.live.ProgressWriter``)."""

    def step(self, text: str, total: float | None = None) -> None: ...

    def advance_to(self, done: float) -> None: ...


class StageProgress:
    """One transient line per stage: spinner, text, bar (when the length is known), time.

    ``mirror``, when given, gets each step and its progress too (a mirror that fails
    never stops the run: its error is shown once as a warning)."""

    def __init__(self, console: Console, mirror: StepMirror | None = None) -> None:
        self.mirror = mirror
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[live]}"),
            console=console,
            transient=True,
        )
        self.task: Any = None

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stage(self, text: str, total: float | None = None) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(text, total=total, live="")
        self._mirrored(lambda m: m.step(text, total))

    def advance_to(self, completed: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=completed)
        self._mirrored(lambda m: m.advance_to(completed))

    def _mirrored(self, call: Callable[[StepMirror], None]) -> None:
        if self.mirror is None:
            return
        try:
            call(self.mirror)
        except Exception as exc:  # the dashboard's view must not stop the run
            self.mirror = None
            self.warn(f"the run's progress is no longer recorded for the dashboard: {exc}")

    def warn(self, text: str) -> None:
        """A line that stays above the progress display (plain text: no markup read)."""
        self.progress.console.print(Text("warning: ", style="yellow") + Text(text))

    def live(self) -> LiveTally:
        """A series sink that shows the load as it runs (see the module doc)."""
        console = self.progress.console

        def show(text: str) -> None:
            if self.task is not None:
                self.progress.update(self.task, live=text)

        def print_line(text: str) -> None:
            console.print(Text(text))

        return LiveTally(show, None if console.is_terminal else print_line)


def tally(points: Sequence[SeriesPoint]) -> str:
    """One second (or several) of points as ``12 req/s, 0 errors, p95 4.1 ms (worst:
    GET /pets 6.0 ms)``; the p95 shown is the worst operation's."""
    seconds = {int(p.second) for p in points} or {0}
    span = max(1, len(seconds))
    requests = sum(p.count for p in points)
    errors = sum(p.failures for p in points)
    worst = max((p for p in points if p.p95 is not None), key=lambda p: p.p95 or 0.0, default=None)
    text = f"{requests / span:.0f} req/s, {errors} error{'s' if errors != 1 else ''}"
    if worst is not None and worst.p95 is not None:
        text += f", p95 {worst.p95:.1f} ms (worst: {worst.operation})"
    return text


def _weighted_p95(points: Sequence[SeriesPoint]) -> float | None:
    weighted = [(p.p95, p.count) for p in points if p.p95 is not None and p.count > 0]
    total = sum(n for _, n in weighted)
    return sum(v * n for v, n in weighted) / total if total else None


def side_tally(sides: Mapping[str, Sequence[SeriesPoint]]) -> str:
    """Both sides of a side-by-side run over the same seconds, as ``base 49 req/s,
    p95 4.1 ms, 0% errors | head ... | worst: OP p95 9.0 ms (base 8.7 ms)``.

    ``sides``: side -> points (ms latencies, ``second`` in Unix time). Rates are per
    second of the window (the distinct seconds any side pushed in); p95s are
    request-weighted means of the points' p95s; "worst" is the head's operation with
    the highest such p95 (the first side's when there is no head).
    """
    every = [p for points in sides.values() for p in points]
    span = max(1, len({int(p.second) for p in every}))
    parts = []
    for side in sorted(sides):
        points = sides[side]
        requests = sum(p.count for p in points)
        errors = sum(p.failures for p in points)
        text = f"{side} {requests / span:.0f} req/s"
        p95 = _weighted_p95(points)
        if p95 is not None:
            text += f", p95 {p95:.1f} ms"
        share = errors / requests * 100 if requests else 0.0
        parts.append(text + f", {share:.3g}% errors")
    lead = "head" if "head" in sides else min(sides, default="")
    per_op = {
        op: value
        for op in sorted({p.operation for p in sides.get(lead, ())})
        if (value := _weighted_p95([p for p in sides[lead] if p.operation == op])) is not None
    }
    if per_op:
        worst = max(per_op, key=lambda op: per_op[op])
        text = f"worst: {worst} p95 {per_op[worst]:.1f} ms"
        others = [side for side in sorted(sides) if side != lead]
        for side in others:
            other = _weighted_p95([p for p in sides[side] if p.operation == worst])
            if other is not None:
                text += f" ({side} {other:.1f} ms)"
        parts.append(text)
    return " | ".join(parts)


class LiveTally:
    """A ``SeriesSink`` (and ``SideSink``) that shows each batch of points through
    ``show`` (the stage's progress line) and, when ``print_line`` is given (no
    terminal), prints one line every ``every_s`` seconds with what came since the
    last. Once a side-by-side run's sides arrive (``add_sides``), the lines show
    them (``side_tally``) and the head's stored batches (``add``) are not shown
    again."""

    def __init__(
        self,
        show: Callable[[str], None],
        print_line: Callable[[str], None] | None = None,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.show = show
        self.print_line = print_line
        self.every_s = every_s
        self.clock = clock
        self.pending: list[SeriesPoint] = []
        self.side_pending: dict[str, list[SeriesPoint]] = {}
        self.sided = False  # side-by-side points came: ``add`` shows nothing more
        self.started = clock()
        self.last_print = self.started

    def add_sides(self, points: Mapping[str, Sequence[SeriesPoint]]) -> None:
        if not any(points.values()):
            return
        self.sided = True
        self.show(side_tally(points))
        if self.print_line is None:
            return
        for side, batch in points.items():
            self.side_pending.setdefault(side, []).extend(batch)
        now = self.clock()
        if now - self.last_print >= self.every_s:
            self.print_line(f"  {now - self.started:4.0f} s: {side_tally(self.side_pending)}")
            self.side_pending = {}
            self.last_print = now

    def add(self, points: Sequence[SeriesPoint]) -> None:
        if not points or self.sided:
            return
        self.show(tally(points))
        if self.print_line is None:
            return
        self.pending.extend(points)
        now = self.clock()
        if now - self.last_print >= self.every_s:
            self.print_line(f"  {now - self.started:4.0f} s: {tally(self.pending)}")
            self.pending.clear()
            self.last_print = now

    def stop(self, error: BaseException | None) -> None:
        self.pending.clear()
        self.side_pending.clear()
