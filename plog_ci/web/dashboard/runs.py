"""The runs list: what ``GET /`` shows and ``GET /api/runs`` returns.

Reads the results store (``plog_ci.store.runs_query``) and the queue
(``plog_ci.web.dashboard.jobs``); every string in it came from a repository, a
spec or a service and is shown as text (the HTML templates autoescape; the
JSON is JSON).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from plog_ci.store.runs_query import (
    DEFAULT_PAGE,
    MAX_PAGE,
    RunsFilter,
    RunsPage,
    RunSummary,
    list_runs,
    repositories,
)
from plog_ci.templating import plain_text
from plog_ci.web.dashboard.jobs import ActiveJob, active_jobs, triggers

STATUSES = ("running", "pass", "fail", "no-verdict", "error")
VERDICT_CHARS = 300  # the verdict's reason is cut to this many characters in the list
MAX_ID = 2**63 - 1


class BadQuery(ValueError):
    """A query parameter that cannot be used; the message names it and what fits."""


def _int_param(args: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadQuery(f"query parameter {name!r} must be a whole number {low}..{high}")
    return int(raw)


def parse_filter(args: Mapping[str, str]) -> RunsFilter:
    """``repo``, ``branch``, ``status`` (exact; empty is any), ``before`` (a run id) and
    ``limit`` (1..``MAX_PAGE``, default ``DEFAULT_PAGE``). Raises ``BadQuery``."""

    def text(name: str) -> str | None:
        value = args.get(name, "")
        return value if value != "" else None

    limit = _int_param(args, "limit", 1, MAX_PAGE)
    return RunsFilter(
        repo=text("repo"),
        branch=text("branch"),
        status=text("status"),
        before=_int_param(args, "before", 1, MAX_ID),
        limit=DEFAULT_PAGE if limit is None else limit,
    )


def duration_s(started: float, finished: float | None, now: float) -> float:
    """Seconds from start to end, or to ``now`` while it runs (never negative)."""
    return max(0.0, (finished if finished is not None else now) - started)


def human_duration(seconds: float) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def verdict_text(verdict: Mapping[str, Any] | None) -> str:
    """The verdict in one line: its reason, then the gates that decided it."""
    if not verdict:
        return ""
    parts = [plain_text(verdict.get("reason") or "")]
    decided = verdict.get("decided_by")
    if isinstance(decided, list) and decided:
        names = [
            f"{d.get('gate', '?')} on {d.get('operation', '?')}"
            for d in decided[:3]
            if isinstance(d, dict)
        ]
        more = f" and {len(decided) - 3} more" if len(decided) > 3 else ""
        parts.append("decided by " + "; ".join(names) + more)
    return plain_text(" — ".join(p for p in parts if p), VERDICT_CHARS)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


@dataclass(frozen=True)
class RunsView:
    """One page of the runs list with the jobs waiting and running."""

    filter: RunsFilter
    page: RunsPage
    jobs: list[ActiveJob]
    triggers: dict[int, str]
    repositories: list[str]
    now: float

    def run_row(self, run: RunSummary) -> dict[str, Any]:
        seconds = duration_s(run.started_at, run.finished_at, self.now)
        return {
            "id": run.id,
            "repo": run.repo,
            "branch": run.branch,
            "commit": run.commit_sha,
            "short_sha": run.commit_sha[:10],
            "base": run.base_sha,
            "profile": run.profile,
            "kind": run.kind,
            "status": run.status,
            "started_at": run.started_at,
            "started": iso(run.started_at),
            "finished_at": run.finished_at,
            "duration_s": round(seconds, 3),
            "duration": human_duration(seconds),
            "verdict": verdict_text(run.verdict),
            "trigger": self.triggers.get(run.id),
        }

    def job_row(self, job: ActiveJob) -> dict[str, Any]:
        waited = duration_s(job.started or job.created, None, self.now)
        return {
            "id": job.id,
            "state": job.state,
            "repo": job.repo,
            "branch": job.branch,
            "commit": job.head,
            "short_sha": job.head[:10],
            "trigger": job.trigger,
            "created": iso(job.created),
            "age": human_duration(waited),
        }

    def query(self, **changes: str | int | None) -> str:
        """The query string of this list with ``changes`` (None drops a parameter);
        ``before`` is dropped unless given, so a changed filter starts at the newest."""
        f = self.filter
        params: dict[str, str | int | None] = {
            "repo": f.repo,
            "branch": f.branch,
            "status": f.status,
            "limit": f.limit if f.limit != DEFAULT_PAGE else None,
        }
        params.update(changes)
        return "?" + urlencode({k: v for k, v in params.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        """What ``GET /api/runs`` answers."""
        f = self.filter
        return {
            "filter": {"repo": f.repo, "branch": f.branch, "status": f.status},
            "page_size": f.page_size,
            "total": self.page.total,
            "next_before": self.page.next_before,
            "jobs": [self.job_row(j) for j in self.jobs],
            "runs": [self.run_row(r) for r in self.page.runs],
        }


def runs_view(home: Path, f: RunsFilter, now: float | None = None) -> RunsView:
    """The runs list from ``home``'s results store and queue."""
    page = list_runs(home / "results.sqlite3", f)
    queue_db = home / "queue.db"
    return RunsView(
        filter=f,
        page=page,
        jobs=active_jobs(queue_db) if f.before is None else [],
        triggers=triggers(queue_db, [r.id for r in page.runs]),
        repositories=repositories(home / "results.sqlite3"),
        now=time.time() if now is None else now,
    )
