"""What the dashboard shows of a run while it runs, written as the run goes.

Three tables (schema v5), all written by ``plog run`` or the worker, read by
``plog serve`` (``plog_ci.store.run_query``), so a browser never talks to the load
generator and a page opened late replays everything from the store:

``live_points``
    Per second (Unix time, whole seconds), per ``side`` and ``operation``: what
    the series table does not hold. ``side`` is ``""`` for the run itself (only
    ``TOTAL``, the whole run from merged histograms: the per-operation seconds are
    in ``series``) and ``"base"``/``"head"`` for each side of a side-by-side run
    (every operation and ``TOTAL``). Side points are placed on whole seconds as
    ``SeriesFanout`` places the run's: a second already taken moves to the next.
``run_progress``
    One row per run: the pipeline's stage (``plan`` .. ``finish``), the step's text
    (``Loading 3 operations for 30 s``), and its progress ``done``/``total``
    (seconds of load) when the length is known.
``run_documents``
    Named JSON documents of a finished run that the report renders as text:
    ``comparisons`` (``analysis.compare_table.to_json_data``), ``changes`` (the
    spec diff, ``openapi.diff.SpecDiff.to_json``), ``baseline`` (where the
    comparison's base came from), ``result`` (duration, setup, planned length).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from plog_ci.results import TOTAL, SeriesPoint

DOCUMENT_LIMIT = 4_000_000  # bytes of one document at most; a larger one is cut to a note
_POINT_SQL = (
    "INSERT OR REPLACE INTO live_points (run_id, side, operation, second, count, failures, "
    "p50, p90, p95, p99, max) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


class _Store(Protocol):
    def transaction(self) -> Any: ...


class LiveWriter:
    """A series sink (and side sink) that keeps what the dashboard draws beyond the
    stored series: ``TOTAL`` seconds of the run, and each side's seconds."""

    wants_total = True  # SeriesFanout hands it the TOTAL points too

    def __init__(self, store: _Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.last_second: dict[tuple[str, str], int] = {}

    def _rows(self, side: str, points: Sequence[SeriesPoint]) -> list[tuple[Any, ...]]:
        rows = []
        for p in points:
            key = (side, p.operation)
            second = max(int(p.second), self.last_second.get(key, -1) + 1)
            self.last_second[key] = second
            rows.append((self.run_id, side, p.operation, second, p.count, p.failures, *p.stored()))
        return rows

    def _save(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self.store.transaction() as conn:
                conn.executemany(_POINT_SQL, rows)

    def add(self, points: Sequence[SeriesPoint]) -> None:
        # Already on whole seconds (SeriesFanout); only the whole run's are new here.
        self._save(
            [
                (self.run_id, "", p.operation, int(p.second), p.count, p.failures, *p.stored())
                for p in points
                if p.operation == TOTAL
            ]
        )

    def add_sides(self, points: Mapping[str, Sequence[SeriesPoint]]) -> None:
        rows: list[tuple[Any, ...]] = []
        for side, batch in points.items():
            rows += self._rows(side, [p for p in batch if p.second > 0])
        self._save(rows)

    def stop(self, error: BaseException | None) -> None:
        """Nothing is held back: every batch was committed when it came."""


class ProgressWriter:
    """The run's stage and its progress, one row, rewritten at most every
    ``min_interval_s`` for progress alone (a stage change is written at once)."""

    def __init__(
        self,
        store: _Store,
        run_id: int,
        *,
        min_interval_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.stage_name = ""
        self.detail = ""
        self.total: float | None = None
        self.stage_started = clock()
        self.written = 0.0

    def _write(self, done: float | None) -> None:
        now = self.clock()
        self.written = now
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO run_progress (run_id, stage, detail, done, total, "
                "stage_started, updated_at) VALUES (?,?,?,?,?,?,?)",
                (
                    self.run_id,
                    self.stage_name,
                    self.detail,
                    done,
                    self.total,
                    self.stage_started,
                    now,
                ),
            )

    def stage(self, name: str) -> None:
        """The pipeline entered stage ``name`` (``plog_ci.pipeline.STAGES``)."""
        self.stage_name, self.detail, self.total = name, "", None
        self.stage_started = self.clock()
        self._write(None)

    def step(self, text: str, total: float | None = None) -> None:
        """A step inside the stage (``StageProgress.stage``): its text and length."""
        self.detail, self.total = text, total
        self._write(0.0 if total else None)

    def advance_to(self, done: float) -> None:
        """Progress within the step (seconds of ``total``), written at most every
        ``min_interval_s``."""
        if self.clock() - self.written >= self.min_interval_s:
            self._write(done)


def total_p95(store: _Store, run_id: int, side: str = "") -> list[tuple[int, float]]:
    """The whole run's p95 (ms) of each second, ``(unix second, p95)`` in order, from
    ``live_points``: ``side`` ``""`` for a run alone, ``"head"``/``"base"`` for a side of a
    side-by-side run. Seconds without requests (no p95) are left out."""
    with store.transaction() as conn:
        rows = conn.execute(
            "SELECT second, p95 FROM live_points WHERE run_id = ? AND side = ? AND operation = ? "
            "AND p95 IS NOT NULL ORDER BY second",
            (run_id, side, TOTAL),
        ).fetchall()
    return [(int(second), float(p95)) for second, p95 in rows]


def save_documents(store: _Store, run_id: int, documents: Mapping[str, Any]) -> None:
    """Keep ``documents`` (name -> JSON-able value) with the run; re-saving replaces.
    A document over ``DOCUMENT_LIMIT`` bytes is kept as ``{"omitted": why}``."""
    rows = []
    for name, value in documents.items():
        text = json.dumps(_finite(value), sort_keys=True, allow_nan=False, default=str)
        if len(text) > DOCUMENT_LIMIT:
            text = json.dumps({"omitted": f"{len(text)} bytes, over {DOCUMENT_LIMIT}"})
        rows.append((run_id, name, text))
    with store.transaction() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO run_documents (run_id, name, data) VALUES (?,?,?)", rows
        )


def load_document(store: _Store, run_id: int, name: str) -> Any:
    """The run's document ``name`` (see :func:`save_documents`), or None."""
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT data FROM run_documents WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
    return None if row is None else json.loads(row[0])


def _finite(value: Any) -> Any:
    """``value`` with NaN as None and infinities as ``"inf"``/``"-inf"`` (as
    ``Comparison.to_dict`` writes them): JSON that browsers' ``JSON.parse`` reads."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
