"""The results store, read-only, for the history and compare views.

``plog history`` and ``plog compare`` read through ``ResultsStore``'s methods
(``history``, ``get_run``, ``operation_stats``, ``series``, ``blocks``...), which
the analysis in ``plog_ci.analysis.stored_runs`` takes. Opening a ``ResultsStore``
migrates the schema inside a write transaction, and the dashboard never writes:
``ReadOnlyResults`` keeps every query method and swaps in a connection opened
``mode=ro`` (``plog_ci.store.runs_query.read_only``), so a write through it fails
with ``sqlite3.OperationalError`` instead of changing a run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from plog_ci.store.runs_query import read_only
from plog_ci.store.sqlite import ResultsStore

RESULTS_FILE = "results.sqlite3"


class ReadOnlyResults(ResultsStore):
    """``ResultsStore``'s queries over a read-only connection (closed by its owner)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        # No super().__init__: it creates, checks writable and migrates the store.
        self.path = path
        self._read_only = conn

    @property
    def conn(self) -> sqlite3.Connection:
        return self._read_only

    def close(self) -> None:
        """Nothing: the connection belongs to ``results_reader``."""

    def branches(self, repo: str) -> list[str]:
        """The branches ``repo``'s runs were recorded on, sorted (runs without one left out)."""
        rows = self.conn.execute(
            "SELECT DISTINCT r.branch FROM runs r JOIN repositories p ON p.id = r.repo_id "
            "WHERE p.path = ? AND r.branch IS NOT NULL ORDER BY r.branch",
            (repo,),
        )
        return [str(r[0]) for r in rows.fetchall()]

    def repositories(self) -> list[str]:
        """Every repository with a run, sorted."""
        rows = self.conn.execute(
            "SELECT path FROM repositories WHERE id IN (SELECT repo_id FROM runs) ORDER BY path"
        )
        return [str(r[0]) for r in rows.fetchall()]

    def has_run(self, run_id: int) -> bool:
        row = self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row is not None


@contextmanager
def results_reader(home: Path) -> Iterator[ReadOnlyResults | None]:
    """The store of ``home`` read-only, or None when there is none yet.

    Raises ``sqlite3.Error`` for a file that is not a results store.
    """
    path = home / RESULTS_FILE
    with read_only(path) as conn:
        yield None if conn is None else ReadOnlyResults(path, conn)
