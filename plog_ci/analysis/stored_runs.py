"""Statistics on runs already in the results store: samples, comparisons, history.

A stored run gives samples for the statistics from, in this order:

1. its blocks of one side (``head`` by default): an interleaved run keeps every
   block of both sides, one value per block and operation;
2. its per-second ``series`` rows (one-second blocks);
3. nothing: the run kept only its summary, so no test can be made and every
   comparison with it says *no verdict* with that reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plog_ci.analysis.blocks import block_samples
from plog_ci.analysis.changepoint import ChangePoint, ChangePointSettings, detect
from plog_ci.analysis.comparison import (
    HISTORY_METRICS,
    LATENCY_METRICS,
    Comparison,
    StatsSettings,
)
from plog_ci.analysis.run_level import run_noise
from plog_ci.analysis.samples import OperationSamples, RunLevelSamples, samples_from_seconds
from plog_ci.analysis.stats import compare_runs
from plog_ci.errors import InputError
from plog_ci.results import OperationStats, SeriesPoint
from plog_ci.store.sqlite import ResultsStore, RunRecord


@dataclass(frozen=True)
class RunSamples:
    run: RunRecord
    source: str  # "blocks:head" | "blocks:base" | "series" | "none"
    samples: dict[str, OperationSamples]
    operations: tuple[str, ...]  # what the run measured, samples or not

    def describe(self) -> str:
        where = {
            "series": "per-second series",
            "none": "summary only: no blocks or per-second series stored",
        }.get(self.source, f"{self.source.partition(':')[2]} blocks")
        return f"run #{self.run.id} ({self.run.commit_sha[:12]}, {where})"


def _block_durations(blocks: list[dict[str, OperationStats]]) -> list[float]:
    """Each block's length, from its requests and rate (k6 measured both)."""
    out = []
    for block in blocks:
        lengths = [s.count / s.rps for s in block.values() if s.count > 0 and s.rps > 0]
        out.append(max(lengths) if lengths else 1.0)
    return out


def run_samples(store: ResultsStore, run_id: int, side: str = "head") -> RunSamples:
    """Samples of one stored run (raises InputError for an unknown id)."""
    record = store.get_run(run_id)
    operations = tuple(sorted(store.operation_stats(run_id)))
    blocks = store.blocks(run_id).get(side)
    if blocks:
        hists = store.block_histograms(run_id).get(side)
        samples = block_samples(blocks, _block_durations(blocks), hists)
        return RunSamples(record, f"blocks:{side}", samples, operations or tuple(sorted(samples)))
    if side == "head":
        rows = _measured_seconds(store.series(run_id))
        if rows:
            samples = samples_from_seconds(rows)
            return RunSamples(record, "series", samples, operations or tuple(sorted(samples)))
    return RunSamples(record, "none", {}, operations)


def _measured_seconds(rows: Sequence[SeriesPoint]) -> list[SeriesPoint]:
    """A run's series without its first and last second (ramp-up, a partial interval)
    and without setup requests (not part of the load)."""
    seconds = sorted({r.second for r in rows})
    inner = set(seconds[1:-1]) if len(seconds) > 2 else set(seconds)
    return [r for r in rows if r.second in inner and not r.operation.startswith("setup ")]


def series_samples(
    store: ResultsStore, run_ids: Sequence[int]
) -> dict[str, OperationSamples] | None:
    """Per-second samples of one or more stored runs together; None when one kept no series."""
    rows: list[SeriesPoint] = []
    for run_id in run_ids:
        kept = store.series(run_id)
        if not kept:
            return None
        rows += _measured_seconds(kept)
    return samples_from_seconds(rows) if rows else None


def run_level_samples(
    store: ResultsStore,
    baseline_ids: Sequence[int],
    head_id: int,
    metrics: Sequence[str],
    *,
    history: int = 200,
) -> dict[tuple[str, str], RunLevelSamples]:
    """Latency metrics run by run for a sequential comparison, with run-to-run noise.

    The noise is pooled over every commit with repeated runs among the last
    ``history`` runs comparable with the head (same repository, generated script
    and environment), older than the head, so a later run never changes an
    earlier verdict.
    """
    head = store.get_run(head_id)
    if head.script_hash is None:
        return {}
    comparable = [
        r
        for r in store.comparable_runs(
            head.repo,
            script_hash=head.script_hash,
            environment=head.environment,
            exclude=head_id,
            limit=history,
        )
        if r.id < head_id
    ]
    stats = {r.id: store.operation_stats(r.id) for r in comparable}
    for run_id in baseline_ids:
        stats.setdefault(run_id, store.operation_stats(run_id))
    head_stats = store.operation_stats(head_id)
    by_commit: dict[str, list[int]] = {}
    for r in comparable:
        by_commit.setdefault(r.commit_sha, []).append(r.id)
    out: dict[tuple[str, str], RunLevelSamples] = {}
    for op, now in head_stats.items():
        for metric in metrics:
            if metric not in LATENCY_METRICS or now.count == 0:
                continue
            old = [
                float(getattr(stats[i][op], metric))
                for i in baseline_ids
                if op in stats[i] and stats[i][op].count > 0
            ]
            if not old:
                continue
            groups = [
                [float(getattr(stats[i][op], metric)) for i in ids if op in stats[i]]
                for ids in by_commit.values()
            ]
            sigma, df = run_noise(groups)
            out[op, metric] = RunLevelSamples(tuple(old), float(getattr(now, metric)), sigma, df)
    return out


def _no_samples(old: RunSamples, new: RunSamples, settings: StatsSettings) -> list[Comparison]:
    reason = (
        "; ".join(f"{s.describe()}" for s in (old, new) if s.source == "none")
        or "nothing to compare"
    )
    out = []
    for op in sorted(set(old.operations) | set(new.operations)):
        for metric in settings.metrics:
            out.append(
                Comparison(
                    op,
                    metric,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "no-verdict",
                    f"no samples: {reason}",
                )
            )
    return out


def compare_stored(
    old: RunSamples,
    new: RunSamples,
    settings: StatsSettings,
    run_level: dict[tuple[str, str], RunLevelSamples] | None = None,
) -> list[Comparison]:
    """Per operation and metric; an honest no-verdict when either run has no samples."""
    if old.source == "none" or new.source == "none":
        return _no_samples(old, new, settings)
    return compare_runs(old.samples, new.samples, settings, run_level)


def interleaved_sides(store: ResultsStore, run_id: int) -> tuple[RunSamples, RunSamples]:
    """(base, head) blocks of one interleaved run; InputError when it has no base blocks."""
    base = run_samples(store, run_id, "base")
    head = run_samples(store, run_id, "head")
    if base.source != "blocks:base" or head.source != "blocks:head":
        raise InputError(
            f"run #{run_id} is not an interleaved run: it has no base and head blocks",
            hint="compare two runs with 'plog compare RUN_A RUN_B'",
        )
    return base, head


@dataclass(frozen=True)
class HistoryPoint:
    run: RunRecord
    value: float


@dataclass(frozen=True)
class HistorySeries:
    operation: str
    metric: str
    points: tuple[HistoryPoint, ...]
    change_points: tuple[ChangePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        marks = {c.index: c for c in self.change_points}
        return {
            "operation": self.operation,
            "metric": self.metric,
            "points": [
                {
                    "run_id": p.run.id,
                    "commit": p.run.commit_sha,
                    "branch": p.run.branch,
                    "status": p.run.status,
                    "started_at": p.run.started_at,
                    "value": p.value,
                    "change_point": i in marks,
                }
                for i, p in enumerate(self.points)
            ],
            "change_points": [
                {
                    **c.to_dict(),
                    "run_id": self.points[c.index].run.id,
                    "commit": self.points[c.index].run.commit_sha,
                }
                for c in self.change_points
            ],
        }


def history_series(
    history: Sequence[tuple[RunRecord, dict[str, OperationStats]]],
    metric: str,
    operation: str | None = None,
    settings: ChangePointSettings | None = None,
) -> list[HistorySeries]:
    """One series per operation (oldest first) with E-divisive change points."""
    if metric not in HISTORY_METRICS:
        raise InputError(
            f"unknown metric {metric!r}", hint=f"use one of {', '.join(HISTORY_METRICS)}"
        )
    names = sorted({op for _, stats in history for op in stats})
    if operation is not None:
        names = [op for op in names if op == operation]
    out = []
    for name in names:
        points = []
        for record, stats in history:
            s = stats.get(name)
            if s is None or s.count == 0:
                continue  # no measurement: left out, not a zero
            value = s.metric(metric)
            if math.isfinite(value):
                points.append(HistoryPoint(record, value))
        found = detect([p.value for p in points], settings) if points else []
        out.append(HistorySeries(name, metric, tuple(points), tuple(found)))
    return out
