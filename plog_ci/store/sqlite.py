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

from plog_ci.errors import InputError
from plog_ci.results import OperationStats

# Each entry upgrades the schema by one version; never edit a released step.
MIGRATIONS: list[str] = [
    # 1: repositories, commits, runs, per-operation statistics
    """
    CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE
    );
    CREATE TABLE commits (
        id INTEGER PRIMARY KEY,
        repo_id INTEGER NOT NULL REFERENCES repositories(id),
        sha TEXT NOT NULL,
        parent TEXT,
        branch TEXT,
        UNIQUE (repo_id, sha)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        repo_id INTEGER NOT NULL REFERENCES repositories(id),
        commit_sha TEXT NOT NULL,
        base_sha TEXT,
        branch TEXT,
        profile TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        started_at REAL NOT NULL,
        finished_at REAL,
        config_hash TEXT,
        script_hash TEXT,
        spec_hash TEXT,
        environment TEXT NOT NULL DEFAULT '{}',
        verdict TEXT,
        report_path TEXT
    );
    CREATE INDEX runs_by_commit ON runs (repo_id, commit_sha);
    CREATE TABLE operation_stats (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, operation)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


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


class ResultsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue
        # on busy_timeout instead of failing half-way with SQLITE_BUSY.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

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


def open_store(home: Path) -> ResultsStore:
    return ResultsStore(home / "results.sqlite3")
