"""The results store: SQLite, versioned schema, step-by-step migrations.

Every run is kept per commit with the fingerprints that decide whether two
runs may be compared (config, script, spec, environment).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plog_ci.errors import InputError, StateError
from plog_ci.home import check_writable, close_sqlite, is_state_fault, sqlite_files, unwritable
from plog_ci.results import OperationStats
from plog_ci.store.details import PENDING_GATE, DetailTables
from plog_ci.store.schema import MIGRATIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class RunRecord:
    id: int
    repo: str
    commit_sha: str
    base_sha: str | None
    branch: str | None
    profile: str
    status: str
    started_at: float
    finished_at: float | None
    config_hash: str | None
    script_hash: str | None
    spec_hash: str | None
    environment: dict[str, Any]
    verdict: dict[str, Any] | None
    report_path: str | None


class ResultsStore(DetailTables):
    """Runs per commit (``start_run`` .. ``finish_run``), their statistics and details."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = sqlite_files(path)
        self.faulted: StateError | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(path.parent, exc.strerror or str(exc)) from None
        check_writable(self.files)
        try:
            self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StateError(path, str(exc)) from None
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self.migrate()
        except BaseException:
            self.close()
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, once the database and its directory are checked writable: a
        read may write its read mark through the ``-shm`` mapping (see ``plog_ci.home``)."""
        if self.faulted is not None:
            raise self.faulted
        bad = unwritable(self.files)
        if bad is not None:
            self.faulted = StateError(bad)
            raise self.faulted
        return self._conn

    def close(self) -> None:
        close_sqlite(self._conn, self.path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue
        # on busy_timeout instead of failing half-way with SQLITE_BUSY.
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fault(exc) from None

    def _fault(self, exc: sqlite3.Error) -> Exception:
        """A SQLite error as raised: a ``StateError`` when the files cannot be written."""
        if not is_state_fault(exc):
            return exc
        self.faulted = StateError(unwritable(self.files) or self.path, str(exc))
        return self.faulted

    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        with self.transaction() as conn:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > SCHEMA_VERSION:
                raise InputError(
                    f"{self.path}: results schema v{current} is newer than this PLog "
                    f"(v{SCHEMA_VERSION})",
                    hint="upgrade PLog, or point PLOG_HOME elsewhere",
                )
            for step in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")

    def _repo_id(self, conn: sqlite3.Connection, repo: str) -> int:
        conn.execute("INSERT OR IGNORE INTO repositories (path) VALUES (?)", (repo,))
        row = conn.execute("SELECT id FROM repositories WHERE path = ?", (repo,)).fetchone()
        return int(row[0])

    def start_run(
        self,
        *,
        repo: str,
        commit_sha: str,
        parent: str | None,
        base_sha: str | None,
        branch: str | None,
        profile: str,
        config_hash: str,
        spec_hash: str | None,
        environment: dict[str, Any],
    ) -> int:
        with self.transaction() as conn:
            repo_id = self._repo_id(conn, repo)
            conn.execute(
                "INSERT OR IGNORE INTO commits (repo_id, sha, parent, branch) VALUES (?, ?, ?, ?)",
                (repo_id, commit_sha, parent, branch),
            )
            cur = conn.execute(
                "INSERT INTO runs (repo_id, commit_sha, base_sha, branch, profile, started_at, "
                "config_hash, spec_hash, environment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    repo_id,
                    commit_sha,
                    base_sha,
                    branch,
                    profile,
                    time.time(),
                    config_hash,
                    spec_hash,
                    json.dumps(environment, sort_keys=True),
                ),
            )
            return int(cur.lastrowid or 0)

    def save_stats(self, run_id: int, script_hash: str, stats: dict[str, OperationStats]) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET script_hash = ? WHERE id = ?", (script_hash, run_id))
            conn.executemany(
                "INSERT OR REPLACE INTO operation_stats (run_id, operation, data) VALUES (?,?,?)",
                [
                    (run_id, name, json.dumps(s.to_dict(), sort_keys=True))
                    for name, s in stats.items()
                ],
            )

    def finish_run(
        self, run_id: int, status: str, verdict: dict[str, Any] | None, report_path: str | None
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, verdict = ?, "
                "report_path = ? WHERE id = ?",
                (
                    status,
                    time.time(),
                    json.dumps(verdict) if verdict else None,
                    report_path,
                    run_id,
                ),
            )
            _close_pending_gates(conn, run_id, status)

    def close_abandoned(self, run_id: int, reason: str) -> bool:
        """End a run its process left ``running`` (a worker killed mid-run) as ``error``
        with ``reason``; a run that already has a final status keeps it. True if closed."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'error', finished_at = ?, verdict = ? "
                "WHERE id = ? AND status = 'running'",
                (time.time(), json.dumps({"status": "error", "reason": reason}), run_id),
            )
            _close_pending_gates(conn, run_id, "error")
            return cur.rowcount == 1

    def running_runs(self) -> list[int]:
        """The ids of runs without a final status (still measuring, or abandoned)."""
        rows = self.conn.execute("SELECT id FROM runs WHERE status = 'running' ORDER BY id")
        return [int(r[0]) for r in rows.fetchall()]

    def operation_stats(self, run_id: int) -> dict[str, OperationStats]:
        rows = self.conn.execute(
            "SELECT operation, data FROM operation_stats WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {op: OperationStats.from_dict(json.loads(data)) for op, data in rows}

    def _record(self, row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            row[11],
            json.loads(row[12] or "{}"),
            json.loads(row[13]) if row[13] else None,
            row[14],
        )

    _SELECT = (
        "SELECT r.id, p.path, r.commit_sha, r.base_sha, r.branch, r.profile, r.status, "
        "r.started_at, r.finished_at, r.config_hash, r.script_hash, r.spec_hash, "
        "r.environment, r.verdict, r.report_path FROM runs r "
        "JOIN repositories p ON p.id = r.repo_id"
    )

    def get_run(self, run_id: int) -> RunRecord:
        row = self.conn.execute(f"{self._SELECT} WHERE r.id = ?", (run_id,)).fetchone()
        if row is None:
            raise InputError(
                f"no run with id {run_id} in {self.path}", hint="list runs with 'plog history'"
            )
        return self._record(row)

    def runs_for_commit(self, repo: str, sha: str) -> list[RunRecord]:
        rows = self.conn.execute(
            f"{self._SELECT} WHERE p.path = ? AND r.commit_sha = ? ORDER BY r.id DESC", (repo, sha)
        ).fetchall()
        return [self._record(r) for r in rows]

    def runs(self, repo: str | None = None, limit: int = 100) -> list[RunRecord]:
        if repo is None:
            rows = self.conn.execute(f"{self._SELECT} ORDER BY r.id DESC LIMIT ?", (limit,))
        else:
            rows = self.conn.execute(
                f"{self._SELECT} WHERE p.path = ? ORDER BY r.id DESC LIMIT ?", (repo, limit)
            )
        return [self._record(r) for r in rows.fetchall()]

    def set_kind(self, run_id: int, kind: str, baseline_run_id: int | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET kind = ?, baseline_run_id = ? WHERE id = ?",
                (kind, baseline_run_id, run_id),
            )

    # --- baselines and history ------------------------------------------------------

    def comparable_runs(
        self,
        repo: str,
        *,
        script_hash: str,
        environment: dict[str, Any],
        commit_sha: str | None = None,
        branch: str | None = None,
        passing_only: bool = False,
        exclude: int | None = None,
        limit: int = 1,
    ) -> list[RunRecord]:
        """Finished runs whose script and environment fingerprints match, newest first."""
        sql = (
            f"{self._SELECT} WHERE p.path = ? AND r.script_hash = ? AND r.environment = ? "
            "AND r.status IN ('pass', 'fail', 'no-verdict')"
        )
        args: list[Any] = [repo, script_hash, json.dumps(environment, sort_keys=True)]
        if commit_sha is not None:
            sql += " AND r.commit_sha = ?"
            args.append(commit_sha)
        if branch is not None:
            sql += " AND r.branch = ?"
            args.append(branch)
        if passing_only:
            sql += " AND r.status = 'pass'"
        if exclude is not None:
            sql += " AND r.id != ?"
            args.append(exclude)
        sql += " ORDER BY r.id DESC LIMIT ?"
        args.append(limit)
        return [self._record(r) for r in self.conn.execute(sql, args).fetchall()]

    def history(
        self, repo: str | None, operation: str | None, branch: str | None = None, limit: int = 200
    ) -> list[tuple[RunRecord, dict[str, OperationStats]]]:
        """Finished runs oldest first, each with its per-operation statistics."""
        sql = f"{self._SELECT} WHERE r.status IN ('pass', 'fail', 'no-verdict')"
        args: list[Any] = []
        if repo is not None:
            sql += " AND p.path = ?"
            args.append(repo)
        if branch is not None:
            sql += " AND r.branch = ?"
            args.append(branch)
        sql += " ORDER BY r.id DESC LIMIT ?"
        args.append(limit)
        out = []
        for row in reversed(self.conn.execute(sql, args).fetchall()):
            record = self._record(row)
            stats = self.operation_stats(record.id)
            if operation is not None:
                stats = {k: v for k, v in stats.items() if k == operation}
            out.append((record, stats))
        return out

    def prune(self, *, keep_last: int | None = None, max_age_days: float | None = None) -> int:
        """Retention: delete runs beyond the newest ``keep_last`` per repository, or older
        than ``max_age_days``. Returns how many runs were deleted."""
        doomed: set[int] = set()
        if max_age_days is not None:
            cutoff = time.time() - max_age_days * 86400
            doomed.update(
                r
                for (r,) in self.conn.execute("SELECT id FROM runs WHERE started_at < ?", (cutoff,))
            )
        if keep_last is not None:
            doomed.update(
                r
                for (r,) in self.conn.execute(
                    "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY repo_id "
                    "ORDER BY id DESC) AS n FROM runs) WHERE n > ?",
                    (keep_last,),
                )
            )
        if not doomed:
            return 0
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE runs SET baseline_run_id = NULL WHERE baseline_run_id = ?",
                [(i,) for i in doomed],
            )
            for table in (
                "series",
                "histograms",
                "errors",
                "blocks",
                "resources",
                "gate_outcomes",
                "findings",
                "operation_stats",
            ):
                conn.executemany(
                    f"DELETE FROM {table} WHERE run_id = ?",  # noqa: S608
                    [(i,) for i in doomed],
                )
            conn.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in doomed])
        return len(doomed)


def _close_pending_gates(conn: sqlite3.Connection, run_id: int, status: str) -> None:
    """Gates still pending when the run ends (stored when it started, never judged: an
    error or an interruption) say so instead of staying pending."""
    conn.execute(
        "UPDATE gate_outcomes SET detail = ? WHERE run_id = ? AND passed IS NULL AND detail = ?",
        (f"not evaluated: the run ended ({status})", run_id, PENDING_GATE),
    )


def open_store(home: Path) -> ResultsStore:
    return ResultsStore(home / "results.sqlite3")
