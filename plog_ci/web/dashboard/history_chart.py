"""The geometry of a history chart: one metric of one operation, run by run.

Server-side so the page needs no script (the dashboard's policy is
``default-src 'self'``): ``chart(series)`` gives every coordinate, already
rounded, and every label as plain text; ``history.html.j2`` writes the SVG and
autoescapes the text. Runs are spaced evenly along x (one per run, oldest on
the left) rather than by time, as the change-point analysis sees them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plog_ci.analysis.stored_runs import HistorySeries

WIDTH = 760  # viewBox units; the CSS scales the chart to the page's width
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 20, 24  # margins around the plot area
TICKS = 4  # about this many horizontal grid lines

_MS_METRICS = ("p50", "p90", "p95", "p99", "mean", "max", "min")


def format_value(metric: str, value: float) -> str:
    """``value`` in the metric's unit: ``12.3 ms``, ``1.25 s``, ``0.40%``, ``123.4/s``, ``12``."""
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    if metric == "rps":
        return f"{value:.1f}/s"
    if metric == "count":
        return f"{value:.0f}"
    if metric in _MS_METRICS and abs(value) >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if metric in _MS_METRICS else f"{value:.4g}"


def format_delta(delta_pct: float | None) -> str:
    """``+20.0%``, ``-3.1%``, or ``?`` when the level before was 0."""
    return "?" if delta_pct is None else f"{delta_pct:+.1f}%"


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    run_id: int
    title: str  # "#12 · main · 0123456789ab · 20.1 ms" (the tooltip)
    change: bool  # the first run of a new level


@dataclass(frozen=True)
class ChangeMark:
    x: float
    label: str  # "+20.0%"
    title: str  # the numbers behind it
    run_id: int


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: int
    bottom: float  # y of the x axis
    left: int
    right: float  # x where the plot ends
    line: str  # the polyline's points, "x,y x,y ..."
    points: tuple[ChartPoint, ...]
    changes: tuple[ChangeMark, ...]
    ticks: tuple[Tick, ...]
    first_label: str  # under the x axis, left: the oldest run
    last_label: str  # right: the newest


def _step(span: float) -> float:
    """A round grid step (1, 2 or 5 times a power of ten) giving about ``TICKS`` lines."""
    raw = span / TICKS
    power = 10.0 ** math.floor(math.log10(raw))
    return next(float(m * power) for m in (1, 2, 5, 10) if m * power >= raw)


def _scale(values: list[float]) -> tuple[float, float, float]:
    """(low, high, step) of the y axis: whole grid steps around every value."""
    low, high = min(values), max(values)
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = _step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def chart(series: HistorySeries) -> Chart | None:
    """The chart of ``series``; None when it has no points."""
    if not series.points:
        return None
    values = [p.value for p in series.points]
    low, high, step = _scale(values)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    n = len(values)

    def x_at(i: int) -> float:
        return round(LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

    def y_at(v: float) -> float:
        return round(TOP + plot_h * (high - v) / (high - low), 1)

    marks = {c.index: c for c in series.change_points}
    points = tuple(
        ChartPoint(
            x_at(i),
            y_at(p.value),
            p.run.id,
            f"#{p.run.id} · {p.run.branch or '-'} · {p.run.commit_sha[:12]} · "
            f"{format_value(series.metric, p.value)}",
            i in marks,
        )
        for i, p in enumerate(series.points)
    )
    changes = tuple(
        ChangeMark(
            # Halfway between the last run of the old level and the first of the new.
            round((x_at(c.index - 1) + x_at(c.index)) / 2, 1),
            format_delta(c.delta_pct),
            f"change point at #{series.points[c.index].run.id}: "
            f"{format_value(series.metric, c.before)} → {format_value(series.metric, c.after)}"
            f" ({format_delta(c.delta_pct)}, p={c.p_value:.3g})",
            series.points[c.index].run.id,
        )
        for c in series.change_points
    )
    count = round((high - low) / step)
    ticks = tuple(
        Tick(y_at(low + k * step), format_value(series.metric, low + k * step))
        for k in range(count + 1)
    )
    first, last = series.points[0].run, series.points[-1].run
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        left=LEFT,
        right=WIDTH - RIGHT,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        points=points,
        changes=changes,
        ticks=ticks,
        first_label=f"#{first.id} {first.commit_sha[:8]}",
        last_label=f"#{last.id} {last.commit_sha[:8]}",
    )
