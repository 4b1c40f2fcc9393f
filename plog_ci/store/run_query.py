"""Read-only queries over the results store for one run's page and its live stream.

Like ``runs_query``, each call opens its own read-only connection (``mode=ro``),
or uses the one a stream holds for its life. A store of an older schema (no
``live_points``, ``run_progress`` or ``run_documents``) reads as a run without
them.

The stream's cursor is the pair of the largest row ids seen in ``series`` and
``live_points``: SQLite gives every inserted (or replaced) row a larger rowid than
any before it, so "rows after the cursor" are exactly the seconds written since,
read by a range scan on the rowid however long the run. The first read takes the
run's rows through the primary key and the largest rowids inside one read
transaction (WAL: a snapshot), so no second falls between the two.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plog_ci.results import TOTAL
from plog_ci.store.details import CGROUP_COLUMNS
from plog_ci.store.runs_query import read_only

# One point as the page reads it: side, operation, second, count, failures,
# p50, p90, p95, p99, max (milliseconds; None where not measured).
Latency = float | None
Point = tuple[str, str, int, int, int, Latency, Latency, Latency, Latency, Latency]
MAX_OPERATIONS = 25  # operations one request may ask the seconds of (besides TOTAL)
MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer: a larger id names no run


@dataclass(frozen=True)
class Cursor:
    """Where a stream stands: the largest rowids seen (``series``, ``live_points``)."""

    series: int = 0
    live: int = 0

    def __str__(self) -> str:
        return f"{self.series}-{self.live}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """``"12-40"`` as a Cursor; anything else (a forged Last-Event-ID) is the start."""
        head, _, tail = (text or "").partition("-")
        if len(head) > 18 or len(tail) > 18:
            return cls()
        digits = head + tail
        if head and tail and digits.isascii() and digits.isdigit() and len(digits) < 36:
            return cls(int(head), int(tail))
        return cls()


@dataclass(frozen=True)
class Points:
    """Seconds read after a cursor, and the cursor after them."""

    points: list[Point]
    cursor: Cursor


def _missing_table(exc: sqlite3.OperationalError) -> bool:
    return "no such table" in str(exc)


def _rows(conn: sqlite3.Connection, sql: str, args: Iterable[Any]) -> list[tuple[Any, ...]]:
    try:
        return conn.execute(sql, tuple(args)).fetchall()
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return []
        raise


def _named_rows(conn: sqlite3.Connection, sql: str, args: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows as column name to value (for ``SELECT *`` across schema versions)."""
    try:
        cursor = conn.execute(sql, tuple(args))
    except sqlite3.OperationalError as exc:
        if _missing_table(exc):
            return []
        raise
    fields = [d[0] for d in cursor.description]
    return [dict(zip(fields, values, strict=True)) for values in cursor]


def _max_rowid(conn: sqlite3.Connection, table: str) -> int:
    rows = _rows(conn, f"SELECT MAX(rowid) FROM {table}", ())  # noqa: S608 - our names
    return int(rows[0][0] or 0) if rows else 0


_COLUMNS = "operation, second, count, failures, p50, p90, p95, p99, max"


def _in(names: tuple[str, ...]) -> str:
    return ",".join("?" * len(names))


def points_after(
    path: Path,
    run_id: int,
    operations: Iterable[str],
    cursor: Cursor,
    *,
    conn: sqlite3.Connection | None = None,
) -> Points:
    """The run's seconds of ``operations`` (TOTAL is always included) written after
    ``cursor``, in time order, and the new cursor. From the start (``Cursor()``), the
    run's whole history; a run stored before whole-run seconds were kept gets its
    TOTAL from the per-operation counts (no latencies: percentiles never add up)."""
    operations = [op for op in operations if op != TOTAL][:MAX_OPERATIONS]
    wanted = tuple(dict.fromkeys([TOTAL, *operations]))
    if not 0 < run_id <= MAX_RUN_ID:
        return Points([], cursor)
    if conn is None:
        with read_only(path) as own:
            if own is None:
                return Points([], cursor)
            return points_after(path, run_id, operations, cursor, conn=own)
    conn.execute("BEGIN")
    try:
        top = Cursor(_max_rowid(conn, "series"), _max_rowid(conn, "live_points"))
        if top == cursor:
            return Points([], cursor)
        fresh = cursor == Cursor()
        series = _seconds(conn, "series", "''", run_id, wanted, cursor.series, top.series)
        live = _seconds(conn, "live_points", "side", run_id, wanted, cursor.live, top.live)
        if fresh and not any(r[0] == "" and r[1] == TOTAL for r in live):
            live += _rows(
                conn,
                "SELECT '', ?, second, SUM(count), SUM(failures), NULL, NULL, NULL, NULL, NULL "
                "FROM series WHERE run_id = ? AND rowid <= ? GROUP BY second",
                [TOTAL, run_id, top.series],
            )
    finally:
        conn.execute("COMMIT")
    out: list[Point] = [
        (str(r[0]), str(r[1]), int(r[2]), int(r[3]), min(int(r[4]), int(r[3])), *r[5:10])
        for r in series + live
    ]
    out.sort(key=lambda p: (p[2], p[0], p[1]))
    return Points(out, top)


def run_operations(conn: sqlite3.Connection, run_id: int) -> set[str]:
    """The operations the run has seconds, statistics or gates of (TOTAL included)."""
    found = {TOTAL}
    for sql in (
        "SELECT DISTINCT operation FROM series WHERE run_id = ?",
        "SELECT DISTINCT operation FROM live_points WHERE run_id = ?",
        "SELECT operation FROM operation_stats WHERE run_id = ?",
        "SELECT DISTINCT operation FROM gate_outcomes WHERE run_id = ?",
    ):
        found.update(str(op) for (op,) in _rows(conn, sql, (run_id,)))
    return found


def _seconds(
    conn: sqlite3.Connection,
    table: str,
    side: str,
    run_id: int,
    wanted: tuple[str, ...],
    after: int,
    top: int,
) -> list[tuple[Any, ...]]:
    """The run's rows of ``table`` (``series`` or ``live_points``; ``side``: the column
    or literal giving each row's side) for ``wanted`` operations with rowid in
    (``after``, ``top``]. From the start (``after`` 0): by the primary key; after a
    cursor: by a range scan on the rowid (NOT INDEXED), however long the run."""
    where, args = "run_id = ? AND rowid <= ?", [run_id, top]
    if after:
        table += " NOT INDEXED"
        where, args = "rowid > ? AND rowid <= ? AND run_id = ?", [after, top, run_id]
    return _rows(
        conn,
        f"SELECT {side}, {_COLUMNS} FROM {table} WHERE {where} "  # noqa: S608 - our names
        f"AND operation IN ({_in(wanted)})",
        [*args, *wanted],
    )


def progress(conn: sqlite3.Connection, run_id: int) -> dict[str, Any] | None:
    """The run's stage and progress (``store.live.ProgressWriter``), or None."""
    rows = _rows(
        conn,
        "SELECT stage, detail, done, total, stage_started, updated_at FROM run_progress "
        "WHERE run_id = ?",
        (run_id,),
    )
    if not rows:
        return None
    stage, detail, done, total, started, updated = rows[0]
    return {
        "stage": stage,
        "detail": detail,
        "done": done,
        "total": total,
        "stage_started": started,
        "updated_at": updated,
    }


def run_status(conn: sqlite3.Connection, run_id: int) -> str | None:
    if not 0 < run_id <= MAX_RUN_ID:
        return None
    rows = _rows(conn, "SELECT status FROM runs WHERE id = ?", (run_id,))
    return str(rows[0][0]) if rows else None


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def run_detail(path: Path, run_id: int) -> dict[str, Any] | None:
    """Everything the run's page shows besides the seconds (see
    ``web.dashboard.run_page`` for the shape), or None when there is no such run."""
    if not 0 < run_id <= MAX_RUN_ID:
        return None
    with read_only(path) as conn:
        if conn is None:
            return None
        rows = _rows(
            conn,
            "SELECT r.id, p.path, r.commit_sha, r.base_sha, r.branch, r.profile, r.status, "
            "r.kind, r.started_at, r.finished_at, r.config_hash, r.script_hash, r.spec_hash, "
            "r.environment, r.verdict, r.report_path, r.baseline_run_id FROM runs r "
            "JOIN repositories p ON p.id = r.repo_id WHERE r.id = ?",
            (run_id,),
        )
        if not rows:
            return None
        r = rows[0]
        run = {
            "id": r[0], "repo": r[1], "commit": r[2], "base": r[3], "branch": r[4],
            "profile": r[5], "status": r[6], "kind": r[7], "started_at": r[8],
            "finished_at": r[9], "config_hash": r[10], "script_hash": r[11],
            "spec_hash": r[12], "environment": _json(r[13], {}), "verdict": _json(r[14], None),
            "report_path": r[15], "baseline_run_id": r[16],
        }  # fmt: skip
        stats = {
            op: _json(data, {})
            for op, data in _rows(
                conn, "SELECT operation, data FROM operation_stats WHERE run_id = ?", (run_id,)
            )
        }
        names = {
            str(op)
            for (op,) in _rows(
                conn, "SELECT DISTINCT operation FROM series WHERE run_id = ?", (run_id,)
            )
            + _rows(conn, "SELECT DISTINCT operation FROM live_points WHERE run_id = ?", (run_id,))
        }
        gates = [
            {"gate": g, "operation": op, "level": lv, "value": v,
             "passed": None if ok is None else bool(ok), "decisive": bool(d), "detail": dt}
            for g, op, lv, v, ok, d, dt in _rows(
                conn,
                "SELECT gate, operation, level, value, passed, decisive, detail "
                "FROM gate_outcomes WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            )
        ]  # fmt: skip
        errors: dict[str, dict[str, int]] = {}
        for op, status, count in _rows(
            conn, "SELECT operation, status, count FROM errors WHERE run_id = ?", (run_id,)
        ):
            errors.setdefault(op, {})[status] = int(count)
        findings = [
            {"kind": k, "operation": op, "message": m, "data": _json(d, {})}
            for k, op, m, d in _rows(
                conn,
                "SELECT kind, operation, message, data FROM findings WHERE run_id = ? "
                "ORDER BY rowid",
                (run_id,),
            )
        ]
        documents = {
            name: _json(data, None)
            for name, data in _rows(
                conn, "SELECT name, data FROM run_documents WHERE run_id = ?", (run_id,)
            )
        }
        exchanges: dict[str, list[Any]] = {}
        for op, data in _rows(
            conn,
            "SELECT operation, data FROM exchanges WHERE run_id = ? ORDER BY operation, seq",
            (run_id,),
        ):
            exchanges.setdefault(op, []).append(_json(data, {}))
        # [ts, cpu %, memory bytes] and, for a container, its cgroup counters (schema v6;
        # SELECT * so that an older store reads too)
        resources: dict[str, list[list[float | None]]] = {}
        for found in _named_rows(
            conn, "SELECT * FROM resources WHERE run_id = ? ORDER BY target, ts", (run_id,)
        ):
            row = [found.get(c) for c in ("ts", "cpu_percent", "rss_bytes", *CGROUP_COLUMNS)]
            kept = row[:3] if row[3] is None else row
            resources.setdefault(found["target"], []).append(kept)
        return {
            "run": run,
            "progress": progress(conn, run_id),
            "operations": sorted((names | set(stats)) - {TOTAL}),
            "stats": stats,
            "gates": gates,
            "errors": errors,
            "findings": findings,
            "exchanges": exchanges,  # a few failed exchanges per operation, redacted
            "documents": documents,
            "resources": resources,
        }
