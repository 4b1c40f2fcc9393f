"""The per-run detail tables of the results store (schema v2 on): per-second series,
histograms, errors by status, interleaved blocks, resources, gate outcomes, findings.

``DetailTables`` is the part of ``ResultsStore`` that reads and writes them;
``SeriesWriter`` is the SQLite sink of a run's live series.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from plog_ci.results import OperationStats, SeriesPoint

PENDING_GATE = "pending"  # a gate's detail from the run's start until it is judged
# A container's cgroup counters stored beside its resource samples (schema v6; NULL for
# processes): since the container started, as plog_ci.deploy.cgroup.ContainerSample.
CGROUP_COLUMNS = ("periods", "throttled_periods", "throttled_s", "oom_kills", "running")
_RESOURCES_SQL = (
    "INSERT INTO resources (run_id, target, ts, cpu_percent, rss_bytes, periods, "
    "throttled_periods, throttled_s, oom_kills, running) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


class DetailTables:
    """Mixed into ``ResultsStore``, which provides the connection and transactions."""

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def save_series(self, run_id: int, points: Iterable[SeriesPoint]) -> None:
        """Per-second per-operation points (whole seconds of Unix time, as
        ``plog_ci.series.SeriesFanout`` places them); re-saving a second replaces it."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO series (run_id, operation, second, count, failures, "
                "p50, p90, p95, p99, max) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (run_id, p.operation, int(p.second), p.count, p.failures, *p.stored())
                    for p in points
                ],
            )

    def series(self, run_id: int, operation: str | None = None) -> list[SeriesPoint]:
        """The run's stored points, by operation and second (failures capped at the count).

        ``second`` is Unix time, from the run's first second with requests on
        (``plog_ci.series``). Rows of a store written before that held, the points
        before the first request (no requests; ``second`` 0, 1, 2, ... then Unix time),
        are left out here as they are no longer written.
        """
        sql = (
            "SELECT operation, second, count, failures, p50, p90, p95, p99, max "
            "FROM series WHERE run_id = ? AND second >= "
            "(SELECT MIN(second) FROM series WHERE run_id = ? AND count > 0)"
        )
        args: tuple[Any, ...] = (run_id, run_id)
        if operation is not None:
            sql += " AND operation = ?"
            args += (operation,)
        return [
            SeriesPoint(
                op,
                int(second),
                int(count),
                min(int(failures), int(count)),
                p50=p50,
                p90=p90,
                p95=p95,
                p99=p99,
                max=top,
            )
            for op, second, count, failures, p50, p90, p95, p99, top in self.conn.execute(
                sql + " ORDER BY operation, second", args
            )
        ]

    def save_histograms(self, run_id: int, encoding: str, data: dict[str, str]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO histograms (run_id, operation, encoding, data) "
                "VALUES (?,?,?,?)",
                [(run_id, op, encoding, blob) for op, blob in data.items()],
            )

    def histograms(self, run_id: int) -> dict[str, tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT operation, encoding, data FROM histograms WHERE run_id = ?", (run_id,)
        )
        return {op: (enc, data) for op, enc, data in rows}

    def save_errors(self, run_id: int, errors: dict[str, dict[str, int]]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO errors (run_id, operation, status, count) VALUES (?,?,?,?)",
                [(run_id, op, status, n) for op, by in errors.items() for status, n in by.items()],
            )

    def errors(self, run_id: int) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for op, status, n in self.conn.execute(
            "SELECT operation, status, count FROM errors WHERE run_id = ?", (run_id,)
        ):
            out.setdefault(op, {})[status] = n
        return out

    def save_exchanges(self, run_id: int, exchanges: dict[str, list[dict[str, Any]]]) -> None:
        """Failed exchanges by operation (already redacted: plog_ci.runner.exchanges)."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO exchanges (run_id, operation, seq, data) VALUES (?,?,?,?)",
                [
                    (run_id, op, seq, json.dumps(exchange, sort_keys=True))
                    for op, kept in exchanges.items()
                    for seq, exchange in enumerate(kept)
                ],
            )

    def exchanges(self, run_id: int) -> dict[str, list[dict[str, Any]]]:
        rows = self.conn.execute(
            "SELECT operation, data FROM exchanges WHERE run_id = ? ORDER BY operation, seq",
            (run_id,),
        ).fetchall()
        out: dict[str, list[dict[str, Any]]] = {}
        for op, data in rows:
            out.setdefault(op, []).append(json.loads(data))
        return out

    def save_block(
        self,
        run_id: int,
        side: str,
        block: int,
        stats: dict[str, OperationStats],
        histograms: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """One interleaved block; ``histograms``: per operation, ``Histogram.to_dict``."""
        kept = histograms or {}
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO blocks (run_id, side, block, operation, data, histogram) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (
                        run_id,
                        side,
                        block,
                        op,
                        json.dumps(s.to_dict(), sort_keys=True),
                        json.dumps(kept[op], sort_keys=True) if op in kept else None,
                    )
                    for op, s in stats.items()
                ],
            )

    def blocks(self, run_id: int) -> dict[str, list[dict[str, OperationStats]]]:
        """Per side ("base", "head"), the per-block statistics in block order."""
        out: dict[str, dict[int, dict[str, OperationStats]]] = {}
        for side, block, op, data in self.conn.execute(
            "SELECT side, block, operation, data FROM blocks WHERE run_id = ? ORDER BY side, block",
            (run_id,),
        ):
            out.setdefault(side, {}).setdefault(block, {})[op] = OperationStats.from_dict(
                json.loads(data)
            )
        return {side: [blocks[i] for i in sorted(blocks)] for side, blocks in out.items()}

    def block_histograms(self, run_id: int) -> dict[str, list[dict[str, dict[str, Any]]]]:
        """Per side, per block (in block order), the histograms kept per operation."""
        out: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
        for side, block, op, data in self.conn.execute(
            "SELECT side, block, operation, histogram FROM blocks WHERE run_id = ? "
            "ORDER BY side, block",
            (run_id,),
        ):
            kept = out.setdefault(side, {}).setdefault(block, {})
            if data is not None:
                kept[op] = json.loads(data)
        return {side: [blocks[i] for i in sorted(blocks)] for side, blocks in out.items()}

    def save_resources(self, run_id: int, target: str, samples: Iterable[tuple[Any, ...]]) -> None:
        """Resource samples of a side: ``(unix ts, CPU % of one core, memory bytes)``,
        optionally followed by a container's cgroup counters (``CGROUP_COLUMNS``)."""
        width = 3 + len(CGROUP_COLUMNS)
        rows = [(run_id, target, *s, *(None,) * (width - len(s))) for s in samples]
        with self.transaction() as conn:
            conn.executemany(_RESOURCES_SQL, rows)

    def resources(self, run_id: int, target: str) -> list[tuple[float, float, int]]:
        return [
            (ts, cpu, rss)
            for ts, cpu, rss in self.conn.execute(
                "SELECT ts, cpu_percent, rss_bytes FROM resources WHERE run_id = ? AND target = ? "
                "ORDER BY ts",
                (run_id, target),
            )
        ]

    def save_gate_outcomes(self, run_id: int, outcomes: Iterable[dict[str, Any]]) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM gate_outcomes WHERE run_id = ?", (run_id,))
            conn.executemany(
                "INSERT INTO gate_outcomes (run_id, gate, operation, level, value, passed, "
                "decisive, detail) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        run_id,
                        o["gate"],
                        o["operation"],
                        o["level"],
                        o.get("value"),
                        None if o.get("passed") is None else int(bool(o["passed"])),
                        int(bool(o.get("decisive"))),
                        o.get("detail", ""),
                    )
                    for o in outcomes
                ],
            )

    def gate_outcomes(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT gate, operation, level, value, passed, decisive, detail FROM gate_outcomes "
            "WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [
            {
                "gate": g,
                "operation": op,
                "level": lvl,
                "value": v,
                "passed": None if p is None else bool(p),
                "decisive": bool(d),
                "detail": det,
            }
            for g, op, lvl, v, p, d, det in rows
        ]

    def save_findings(self, run_id: int, findings: Iterable[dict[str, Any]]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO findings (run_id, kind, operation, message, data) VALUES (?,?,?,?,?)",
                [
                    (
                        run_id,
                        f["kind"],
                        f.get("operation"),
                        f["message"],
                        json.dumps(f.get("data", {}), sort_keys=True),
                    )
                    for f in findings
                ],
            )

    def findings(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT kind, operation, message, data FROM findings WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [
            {"kind": k, "operation": op, "message": m, "data": json.loads(d)}
            for k, op, m, d in rows
        ]


class SeriesWriter:
    """The results store as a live-series sink (``plog_ci.series.SeriesSink``): each
    batch of whole-second points is committed as it comes, so a page or a killed
    run finds the seconds measured so far."""

    def __init__(self, store: DetailTables, run_id: int) -> None:
        self.store = store
        self.run_id = run_id

    def add(self, points: Sequence[SeriesPoint]) -> None:
        if points:
            self.store.save_series(self.run_id, points)

    def stop(self, error: BaseException | None) -> None:
        """Nothing is held back: every batch was committed when it came."""
