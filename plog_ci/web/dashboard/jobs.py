"""The queue as the dashboard reads it: jobs waiting and running, and what triggered
a finished run (read-only; the queue itself is ``plog_ci.queue``).

The queue database (``$PLOG_HOME/queue.db``, schema ``plog_ci.jobs.SCHEMA``) is
opened read-only (SQLite URI ``mode=ro``) for each call; a missing one means no
jobs. A finished job's ``outcome`` holds the ``run_id`` of the run it made, which
is how a run in the store finds its trigger.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from plog_ci.jobs import JobSpec

ACTIVE_LIMIT = 100  # jobs waiting or running shown at most


@dataclass(frozen=True)
class ActiveJob:
    """A job waiting (``pending``) or running; times are Unix seconds."""

    id: int
    state: str
    repo: str
    branch: str | None
    head: str
    trigger: str
    created: float
    started: float | None


def trigger_of(spec: JobSpec) -> str:
    """What made the job, in words: ``push to main (github)``, ``pull request #7 (gitea)``,
    ``push to main (git hook)`` for a local repository's hook."""
    where = "git hook" if spec.forge == "local" else spec.forge
    if spec.pr_number is not None:
        return f"pull request #{spec.pr_number} ({where})"
    return f"push to {spec.branch or '?'} ({where})"


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection | None]:
    if not path.is_file():
        yield None
        return
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=2.0)) as conn:
        conn.execute("PRAGMA query_only = ON")
        yield conn


def active_jobs(queue_db: Path) -> list[ActiveJob]:
    """Jobs waiting or running, running first, then oldest waiting first."""
    with _read_only(queue_db) as conn:
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT id, state, spec, created, started FROM jobs "
            "WHERE state IN ('running', 'pending') "
            "ORDER BY state = 'pending', id LIMIT ?",
            (ACTIVE_LIMIT,),
        ).fetchall()
    out = []
    for job_id, state, spec_text, created, started in rows:
        try:
            spec = JobSpec.from_json(spec_text)
        except (ValueError, TypeError):
            continue  # a row this PLog cannot read is left to the worker's own checks
        out.append(
            ActiveJob(
                id=int(job_id),
                state=str(state),
                repo=spec.forge_repo or spec.repo,
                branch=spec.branch,
                head=spec.head,
                trigger=trigger_of(spec),
                created=float(created),
                started=None if started is None else float(started),
            )
        )
    return out


def triggers(queue_db: Path, run_ids: Iterable[int]) -> dict[int, str]:
    """The trigger of each run in ``run_ids`` that a queued job made (run id -> words);
    a run ``plog run`` made by hand has none."""
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    with _read_only(queue_db) as conn:
        if conn is None:
            return {}
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "SELECT spec, json_extract(outcome, '$.run_id') FROM jobs "  # noqa: S608
            f"WHERE outcome IS NOT NULL AND json_valid(outcome) "
            f"AND json_extract(outcome, '$.run_id') IN ({marks})",
            ids,
        ).fetchall()
    out: dict[int, str] = {}
    for spec_text, run_id in rows:
        try:
            out[int(run_id)] = trigger_of(JobSpec.from_json(spec_text))
        except (ValueError, TypeError):
            continue
    return out
