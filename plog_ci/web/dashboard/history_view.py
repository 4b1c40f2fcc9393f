"""The history page: what ``GET /history`` shows and ``GET /api/history`` returns.

The series and change points are ``plog history``'s own: ``ResultsStore.history``
(finished runs, oldest first) and ``plog_ci.analysis.stored_runs.history_series``
(E-divisive). The permutation test behind each change point costs about 1.7 s for
a 500-run series, so the series are kept in memory (``_SeriesCache``) keyed by the
store, the query and the ids of the runs they were computed from: a finished run's
statistics never change, and a new or pruned run changes the ids.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from plog_ci.analysis.comparison import HISTORY_METRICS
from plog_ci.analysis.stored_runs import HistorySeries, history_series
from plog_ci.web.dashboard.history_chart import Chart, chart, format_delta, format_value
from plog_ci.web.dashboard.history_store import results_reader
from plog_ci.web.dashboard.runs import BadQuery

MAX_RUNS = 500  # the most runs one series may hold
DEFAULT_RUNS = 200  # as ``plog history --limit``
DEFAULT_METRIC = "p95"


@dataclass(frozen=True)
class HistoryQuery:
    """``repo``/``branch``/``operation``: None is "the only one" (repo) or any."""

    repo: str | None = None
    branch: str | None = None
    operation: str | None = None
    metric: str = DEFAULT_METRIC
    limit: int = DEFAULT_RUNS


def parse_history_query(args: Mapping[str, str]) -> HistoryQuery:
    """``repo``, ``branch``, ``operation`` (exact; empty is any), ``metric`` (one of
    ``HISTORY_METRICS``) and ``limit`` (runs, 1..``MAX_RUNS``). Raises ``BadQuery``."""

    def text(name: str) -> str | None:
        value = args.get(name, "")
        return value if value != "" else None

    metric = args.get("metric", "") or DEFAULT_METRIC
    if metric not in HISTORY_METRICS:
        raise BadQuery(f"query parameter 'metric' must be one of {', '.join(HISTORY_METRICS)}")
    raw = args.get("limit", "").strip()
    if raw and (not raw.isdigit() or not 1 <= int(raw) <= MAX_RUNS):
        raise BadQuery(f"query parameter 'limit' must be a whole number 1..{MAX_RUNS}")
    return HistoryQuery(
        repo=text("repo"),
        branch=text("branch"),
        operation=text("operation"),
        metric=metric,
        limit=int(raw) if raw else DEFAULT_RUNS,
    )


# (store file, repository, branch, metric, operation, run ids oldest first)
_Key = tuple[str, str, str | None, str, str | None, tuple[int, ...]]


class _SeriesCache:
    """The last ``size`` computed histories (thread-safe; a miss may compute twice)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[_Key, list[HistorySeries]] = OrderedDict()

    def get(self, key: _Key) -> list[HistorySeries] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: _Key, value: list[HistorySeries]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_CACHE = _SeriesCache()


@dataclass(frozen=True)
class HistoryView:
    query: HistoryQuery
    repo: str | None  # the repository shown (None: the store has none, or several)
    repositories: list[str]
    branches: list[str]
    operations: list[str]  # every operation the runs measured
    series: list[HistorySeries]
    charts: list[Chart | None]  # one per series

    @property
    def needs_repo(self) -> bool:
        """The store holds several repositories and the query names none."""
        return self.repo is None and len(self.repositories) > 1

    def rows(self, s: HistorySeries) -> list[dict[str, Any]]:
        """The table under a chart, oldest first (as the chart)."""
        marks = {c.index: c for c in s.change_points}
        links: dict[str, str] = {}  # one link per branch: urlencode is the costly part
        return [
            {
                "run_id": p.run.id,
                "commit": p.run.commit_sha,
                "short_sha": p.run.commit_sha[:12],
                "branch": p.run.branch,
                "branch_link": None
                if p.run.branch is None
                else links.setdefault(p.run.branch, self.query_string(branch=p.run.branch)),
                "status": p.run.status,
                "value": format_value(s.metric, p.value),
                "change": format_delta(marks[i].delta_pct) if i in marks else None,
            }
            for i, p in enumerate(s.points)
        ]

    def query_string(self, **changes: str | int | None) -> str:
        """This page's query with ``changes`` (None drops a parameter)."""
        q = self.query
        params: dict[str, str | int | None] = {
            "repo": q.repo,
            "branch": q.branch,
            "operation": q.operation,
            "metric": q.metric,
            "limit": q.limit if q.limit != DEFAULT_RUNS else None,
        }
        params.update(changes)
        return "?" + urlencode({k: v for k, v in params.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        """What ``GET /api/history`` answers: ``plog history --format json``'s shape
        with the choices (repositories, branches, operations) and the run limit."""
        return {
            "repo": self.repo,
            "branch": self.query.branch,
            "operation": self.query.operation,
            "metric": self.query.metric,
            "limit": self.query.limit,
            "repositories": self.repositories,
            "branches": self.branches,
            "operations": self.operations,
            "series": [s.to_dict() for s in self.series],
        }


def history_view(home: Path, query: HistoryQuery) -> HistoryView:
    """The history of ``home``'s results store. Raises ``BadQuery`` for a repository
    the store has no runs of."""
    with results_reader(home) as store:
        if store is None:
            return HistoryView(query, None, [], [], [], [], [])
        repositories = store.repositories()
        repo = query.repo
        if repo is None and len(repositories) == 1:
            repo = repositories[0]
        if repo is not None and repo not in repositories:
            raise BadQuery(f"the results store holds no runs of repository {repo!r}")
        if repo is None:
            return HistoryView(query, None, repositories, [], [], [], [])
        branches = store.branches(repo)
        # Every operation's statistics come with each run, so the page can list them all.
        history = store.history(repo, None, query.branch, query.limit)
    operations = sorted({op for _, stats in history for op in stats})
    ids = tuple(r.id for r, _ in history)
    base = (str(store.path), repo, query.branch, query.metric)
    series = _CACHE.get((*base, query.operation, ids))
    if series is None and query.operation is not None:
        every = _CACHE.get((*base, None, ids))  # all operations, computed before
        if every is not None:
            series = [s for s in every if s.operation == query.operation]
    if series is None:
        series = history_series(history, query.metric, query.operation)
        _CACHE.put((*base, query.operation, ids), series)
    return HistoryView(
        query, repo, repositories, branches, operations, series, [chart(s) for s in series]
    )
