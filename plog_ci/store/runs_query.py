"""Read-only queries over the results store for the dashboard's runs list.

The store (``plog_ci.store.sqlite``) is written by ``plog run`` and the worker; the
dashboard only reads it, through a connection opened read-only (SQLite URI
``mode=ro``), one per call, so a browser can never change a run and a server
thread never shares a connection.

Pages are keyset-paginated on the run id (newest first): ``before`` is the
smallest id of the page already shown, so a page costs the same at any depth
and a run added meanwhile never shifts a page.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

MAX_PAGE = 200  # the largest page anyone may ask for (runs)
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class RunsFilter:
    """What to list: ``None`` is any. ``before`` is a run id (exclusive); ``limit``
    is clamped to 1..``MAX_PAGE``."""

    repo: str | None = None
    branch: str | None = None
    status: str | None = None
    before: int | None = None
    limit: int = DEFAULT_PAGE

    @property
    def page_size(self) -> int:
        return max(1, min(MAX_PAGE, self.limit))


@dataclass(frozen=True)
class RunSummary:
    """One row of the list. Times are Unix seconds (``finished_at`` None while running);
    ``verdict`` is the stored verdict JSON (``plog_ci.analysis.gates.Verdict.to_json``)."""

    id: int
    repo: str
    commit_sha: str
    base_sha: str | None
    branch: str | None
    profile: str
    status: str
    kind: str
    started_at: float
    finished_at: float | None
    verdict: dict[str, Any] | None


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunSummary]
    total: int  # runs that match the filter, on every page
    next_before: int | None  # the ``before`` of the next (older) page; None: last page


_SELECT = (
    "SELECT r.id, p.path, r.commit_sha, r.base_sha, r.branch, r.profile, r.status, r.kind, "
    "r.started_at, r.finished_at, r.verdict FROM runs r JOIN repositories p ON p.id = r.repo_id"
)


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to the store at ``path``, or None when there is no store
    yet. Raises ``sqlite3.Error`` for a file that is not a store."""
    if not path.is_file():
        yield None
        return
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as conn:
        conn.execute("PRAGMA query_only = ON")
        yield conn


def _verdict(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"reason": "verdict not readable (not JSON)"}
    return value if isinstance(value, dict) else {"reason": str(value)}


def _where(f: RunsFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if f.repo is not None:
        clauses.append("p.path = ?")
        args.append(f.repo)
    if f.branch is not None:
        clauses.append("r.branch = ?")
        args.append(f.branch)
    if f.status is not None:
        clauses.append("r.status = ?")
        args.append(f.status)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def list_runs(path: Path, f: RunsFilter) -> RunsPage:
    """One page of runs from the store at ``path`` matching ``f``, newest first."""
    with read_only(path) as conn:
        if conn is None:
            return RunsPage([], 0, None)
        where, args = _where(f)
        total = int(
            conn.execute(
                f"SELECT COUNT(*) FROM runs r JOIN repositories p ON p.id = r.repo_id{where}",  # noqa: S608
                args,
            ).fetchone()[0]
        )
        keyset = ""
        page_args = list(args)
        if f.before is not None:
            keyset = (" AND " if where else " WHERE ") + "r.id < ?"
            page_args.append(f.before)
        size = f.page_size
        rows = conn.execute(
            f"{_SELECT}{where}{keyset} ORDER BY r.id DESC LIMIT ?",
            [*page_args, size + 1],
        ).fetchall()
    runs = [
        RunSummary(
            id=int(r[0]),
            repo=r[1],
            commit_sha=r[2],
            base_sha=r[3],
            branch=r[4],
            profile=r[5],
            status=r[6],
            kind=r[7],
            started_at=float(r[8]),
            finished_at=None if r[9] is None else float(r[9]),
            verdict=_verdict(r[10]),
        )
        for r in rows[:size]
    ]
    more = len(rows) > size
    return RunsPage(runs, total, runs[-1].id if more and runs else None)


def repositories(path: Path) -> list[str]:
    """Every repository the store holds runs of, by name."""
    with read_only(path) as conn:
        if conn is None:
            return []
        return [r[0] for r in conn.execute("SELECT path FROM repositories ORDER BY path")]
