"""Durable job queue in SQLite: leases, idempotency keys, supersede, and a spool.

Why SQLite: one file under ``$PLOG_HOME``, safe for several worker processes
(WAL, ``BEGIN IMMEDIATE`` for every write, busy timeouts), nothing to run.

Rules the queue enforces:

* an idempotency key (repository, head sha, config hash, pull request) makes
  a redelivered or replayed event map to the job that already exists;
* per (repository, lane) -- a lane is a branch, or ``pull/<n>`` for a pull
  request -- at most one job runs and one waits; a newer event supersedes the
  waiting one, which ends as ``cancelled``;
* a running job holds a lease; when its worker dies (SIGKILL) the lease
  expires and another worker takes the job over;
* a finished job keeps its outcome until it has been published (outbox), so
  the forge gets exactly one final status even when a worker dies between
  finishing and posting.

When the database cannot be opened or stays locked (a push must never fail
because of PLog), ``enqueue_or_spool`` writes the job as a JSON file into
``$PLOG_HOME/spool``; every worker pass ingests the spool first.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plog_ci.home import close_sqlite, is_state_fault, sqlite_files, state_dir, unwritable
from plog_ci.jobs import SCHEMA, SCHEMA_VERSION, Enqueued, Job, JobSpec

__all__ = [
    "DEFAULT_LEASE_S",
    "DEFAULT_MAX_ATTEMPTS",
    "FINAL_RESULTS",
    "Enqueued",
    "Job",
    "JobSpec",
    "Queue",
    "QueueUnavailable",
    "QueueUnwritable",
]

FINAL_RESULTS = ("pass", "fail", "no-verdict", "error", "cancelled")
DEFAULT_LEASE_S = 30.0
DEFAULT_MAX_ATTEMPTS = 3


class QueueUnavailable(Exception):
    """The queue database could not be opened or stayed locked."""


class QueueUnwritable(QueueUnavailable):
    """The queue database, or its directory, cannot be written (read-only, immutable,
    full): waiting does not help. ``path`` names what cannot be written."""

    def __init__(self, path: Path, detail: str = "") -> None:
        super().__init__(f"{path}: not writable{': ' + detail if detail else ''}")
        self.path = path


# Writers in one process queue up on a lock: SQLite's own busy handler sleeps
# in growing steps, which under many threads (the webhook server) costs far
# more than waiting in line.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(str(path), threading.Lock())


class Queue:
    def __init__(self, home: Path | None = None, *, busy_timeout_s: float = 10.0) -> None:
        self.home = state_dir(Path(home) if home is not None else None, create=False)
        self.path = self.home / "queue.db"
        self.spool_dir = self.home / "spool"
        self.busy_timeout_s = busy_timeout_s
        self._ready = False
        self._local = threading.local()
        self._lock = _write_lock(self.path)

    # -- connection ---------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise QueueUnavailable(f"{self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if not self._ready:
                conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a job acknowledged to a pusher survives a power cut.
            conn.execute("PRAGMA synchronous = FULL")
            if not self._ready:
                conn.execute("BEGIN IMMEDIATE")
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                conn.execute("COMMIT")
                self._ready = True
        except sqlite3.Error as exc:
            close_sqlite(conn, self.path)
            raise self._failed(exc) from exc
        return conn

    def _unwritable(self) -> Path | None:
        return unwritable(sqlite_files(self.path))

    def _failed(self, exc: sqlite3.Error) -> QueueUnavailable:
        bad = self._unwritable() if is_state_fault(exc) else None
        if bad is not None:
            return QueueUnwritable(bad, str(exc))
        return QueueUnavailable(f"{self.path}: {exc}")

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (opened once: connecting costs more than a query).

        A connection opened while the files were writable maps the ``-shm`` index for
        writing; once they are not, a write through it would be a SIGBUS (see
        ``plog_ci.home``): it is closed, and a new one opened (read-only, if at all)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._unwritable() is not None:
            self._drop()
            conn = None
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            close_sqlite(conn, self.path)

    def close(self) -> None:
        self._drop()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: writers queue up on the busy timeout."""
        if not self._lock.acquire(timeout=self.busy_timeout_s):
            raise QueueUnavailable(f"{self.path}: busy for {self.busy_timeout_s:g}s")
        try:
            bad = self._unwritable()
            if bad is not None:
                self._drop()
                raise QueueUnwritable(bad)
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._drop()
                raise self._failed(exc) from exc
            try:
                yield conn
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    self._drop()
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._drop()
                raise self._failed(exc) from exc
        finally:
            self._lock.release()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as exc:
            self._drop()
            raise self._failed(exc) from exc

    # -- enqueue --------------------------------------------------------------

    def enqueue(self, spec: JobSpec, *, delivery: str | None = None) -> Enqueued:
        """Add a job, or return the existing one for a redelivery or replay."""
        return self.enqueue_many([(spec, delivery)])[0]

    def enqueue_many(self, items: Sequence[tuple[JobSpec, str | None]]) -> list[Enqueued]:
        """Several enqueues in one transaction (one fsync): the webhook server batches."""
        now = time.time()
        with self._tx() as conn:
            return [self._enqueue_in(conn, spec, delivery, now) for spec, delivery in items]

    def _enqueue_in(
        self, conn: sqlite3.Connection, spec: JobSpec, delivery: str | None, now: float
    ) -> Enqueued:
        key = spec.idempotency_key()
        if delivery:
            row = conn.execute(
                "SELECT job_id FROM deliveries WHERE delivery = ?", (delivery,)
            ).fetchone()
            if row is not None and row["job_id"] is not None:
                return Enqueued(int(row["job_id"]), False)
        row = conn.execute("SELECT id FROM jobs WHERE idem_key = ?", (key,)).fetchone()
        if row is not None:
            job_id = int(row["id"])
            created = False
        else:
            job_id = self._insert(conn, spec, key, now)
            created = True
        if delivery:
            conn.execute(
                "INSERT OR REPLACE INTO deliveries (delivery, job_id, received) VALUES (?, ?, ?)",
                (delivery, job_id, now),
            )
        return Enqueued(job_id, created)

    def _insert(self, conn: sqlite3.Connection, spec: JobSpec, key: str, now: float) -> int:
        lane = spec.lane
        newer = conn.execute(
            "SELECT id FROM jobs WHERE repo = ? AND lane = ? AND state = 'pending' "
            "AND event_time > ? ORDER BY event_time DESC LIMIT 1",
            (spec.repo, lane, spec.event_time),
        ).fetchone()
        # A spooled event ingested late must not supersede a newer push.
        state, result = ("cancelled", "cancelled") if newer is not None else ("pending", None)
        cur = conn.execute(
            "INSERT INTO jobs (idem_key, repo, lane, spec, state, result, created, event_time,"
            " superseded_by, published) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                spec.repo,
                lane,
                spec.to_json(),
                state,
                result,
                now,
                spec.event_time,
                newer["id"] if newer is not None else None,
                1 if newer is not None else 0,
            ),
        )
        job_id = int(cur.lastrowid or 0)
        if newer is None:
            # Nothing was posted for a job that never ran: no status to close.
            conn.execute(
                "UPDATE jobs SET state = 'cancelled', result = 'cancelled', finished = ?,"
                " superseded_by = ?, summary = 'superseded by a newer push', published = 1"
                " WHERE repo = ? AND lane = ? AND state = 'pending' AND id != ?",
                (now, job_id, spec.repo, lane, job_id),
            )
        return job_id

    def enqueue_or_spool(self, spec: JobSpec, *, delivery: str | None = None) -> tuple[str, str]:
        """Enqueue, or spool the job when the database is unusable.

        Returns ("queued", job id), ("existing", job id) when the same commit
        and config already has a job, or ("spooled", spool file path).
        """
        try:
            found = self.enqueue(spec, delivery=delivery)
            return ("queued" if found.created else "existing"), str(found.job_id)
        except QueueUnavailable:
            return "spooled", str(self.spool(spec, delivery=delivery))

    def spool(self, spec: JobSpec, *, delivery: str | None = None) -> Path:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"spec": spec.to_json(), "delivery": delivery})
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.spool_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            name = f"{time.time_ns():020d}-{os.getpid()}-{Path(tmp).name[5:]}.json"
            final = self.spool_dir / name
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return final

    def ingest_spool(self) -> list[int]:
        """Move spooled jobs into the database (idempotent: a crash mid-way re-ingests)."""
        if not self.spool_dir.is_dir():
            return []
        ids: list[int] = []
        for path in sorted(self.spool_dir.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                spec = JobSpec.from_json(data["spec"])
                delivery = data.get("delivery")
            except (OSError, ValueError, KeyError, TypeError):
                path.replace(path.with_suffix(".bad"))
                continue
            ids.append(self.enqueue(spec, delivery=delivery).job_id)
            path.unlink(missing_ok=True)
        return ids

    # -- leases -------------------------------------------------------------

    def claim(
        self,
        owner: str,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> Job | None:
        """Take the oldest runnable job: an expired lease first, else a waiting job
        whose lane has nothing running."""
        now = time.time()
        with self._tx() as conn:
            while True:
                row = conn.execute(
                    "SELECT * FROM jobs WHERE state = 'running' AND lease_until < ? "
                    "ORDER BY id LIMIT 1",
                    (now,),
                ).fetchone()
                if row is None:
                    break
                if row["attempts"] >= max_attempts:
                    # ``summary`` on a running job: the fault it was released for.
                    why = (
                        f"gave up after {row['attempts']} attempts: {row['summary']}"
                        if row["summary"]
                        else f"gave up after {row['attempts']} worker crashes"
                    )
                    conn.execute(
                        "UPDATE jobs SET state = 'finished', result = 'error', finished = ?,"
                        " summary = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
                        (now, why, row["id"]),
                    )
                    continue
                return self._take(conn, row, owner, now, lease_s)
            row = conn.execute(
                "SELECT * FROM jobs AS j WHERE state = 'pending' AND NOT EXISTS ("
                " SELECT 1 FROM jobs AS r WHERE r.repo = j.repo AND r.lane = j.lane"
                " AND r.state = 'running') ORDER BY id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            return self._take(conn, row, owner, now, lease_s)

    def _take(
        self, conn: sqlite3.Connection, row: sqlite3.Row, owner: str, now: float, lease_s: float
    ) -> Job:
        conn.execute(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?,"
            " attempts = attempts + 1, started = COALESCE(started, ?) WHERE id = ?",
            (owner, now + lease_s, now, row["id"]),
        )
        fresh = conn.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()
        return Job.from_row(fresh)

    def renew(self, job_id: int, owner: str, *, lease_s: float = DEFAULT_LEASE_S) -> bool:
        """Extend a lease; False when the job was taken over (this worker must stop)."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running'"
                " AND lease_owner = ?",
                (time.time() + lease_s, job_id, owner),
            )
            return cur.rowcount == 1

    def release(self, job_id: int, owner: str, reason: str, *, retry_in_s: float = 0.0) -> bool:
        """Give a job back after an environmental fault (an unwritable state directory):
        it stays ``running`` with its lease ending in ``retry_in_s``, so it is taken
        over like a dead worker's job, and counts as an attempt. ``reason`` is kept
        for the final summary should the attempts run out. False if not ours."""
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = ?, summary = ?"
                " WHERE id = ? AND state = 'running' AND lease_owner = ?",
                (time.time() + retry_in_s, reason[:500], job_id, owner),
            )
            return cur.rowcount == 1

    def mark_pending_posted(self, job_id: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET pending_posted = 1 WHERE id = ?", (job_id,))

    def finish(
        self,
        job_id: int,
        owner: str,
        *,
        result: str,
        summary: str,
        outcome: dict[str, Any] | None = None,
    ) -> bool:
        """Record the final result, once. False if another worker owns the job now."""
        if result not in FINAL_RESULTS:
            raise ValueError(f"unknown result {result!r}")
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE jobs SET state = 'finished', result = ?, summary = ?, outcome = ?,"
                " finished = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND state = 'running' AND lease_owner = ?",
                (
                    result,
                    summary,
                    json.dumps(outcome) if outcome is not None else None,
                    time.time(),
                    job_id,
                    owner,
                ),
            )
            return cur.rowcount == 1

    def unpublished(self) -> list[Job]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE state = 'finished' AND published = 0 ORDER BY id"
            ).fetchall()
        return [Job.from_row(r) for r in rows]

    def mark_published(self, job_id: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET published = 1 WHERE id = ?", (job_id,))

    # -- reading --------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row is not None else None

    def jobs(self) -> list[Job]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()
        return [Job.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        return {r["state"]: int(r["n"]) for r in rows}

    def idle(self) -> bool:
        """No job waiting, running, or waiting to be published, and an empty spool."""
        spooled = self.spool_dir.is_dir() and any(self.spool_dir.glob("*.json"))
        with self._read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) AS n FROM jobs WHERE state IN ('pending', 'running')"
                " OR (state = 'finished' AND published = 0)"
            ).fetchone()
        return not spooled and int(row["n"]) == 0
