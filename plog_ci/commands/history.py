"""``plog history``: one metric per run and commit, oldest first, with change points.

Change points are found by E-divisive. ``--format json`` for tools. Exit codes:
see ``commands._results``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plog_ci.analysis.comparison import HISTORY_METRICS
from plog_ci.commands._results import FORMAT_OPTION, HOME_OPTION, fail, open_existing_store
from plog_ci.errors import InputError, PlogError

if TYPE_CHECKING:
    from plog_ci.analysis.stored_runs import HistorySeries
    from plog_ci.store.sqlite import ResultsStore


def _repo_key(repo: Path | None, store: ResultsStore) -> str | None:
    """The repository path as the pipeline stores it; None when the store has one only."""
    from plog_ci.gitrepo import GitRepo

    if repo is not None:
        return str(GitRepo(repo).path.resolve())
    paths = sorted({r.repo for r in store.runs(limit=10_000)})
    if len(paths) > 1:
        raise InputError(
            f"the results database holds runs of {len(paths)} repositories",
            hint="pick one with --repo: " + ", ".join(paths[:5]),
        )
    return paths[0] if paths else None


def _printable(text: str) -> str:
    # A hostile operation or branch name must not forge rows in the terminal.
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def _history_text(series: list[HistorySeries]) -> str:
    lines: list[str] = []
    for s in series:
        lines.append(f"{_printable(s.operation)}  ({s.metric}, oldest first)")
        marks = {c.index: c for c in s.change_points}
        rows = [["run", "commit", "branch", "status", s.metric, ""]]
        for i, p in enumerate(s.points):
            mark = ""
            if i in marks:
                c = marks[i]
                delta = f"{c.delta_pct:+.1f}%" if c.delta_pct is not None else "?"
                mark = (
                    f"<- change point: {delta} "
                    f"(mean {c.before:.4g} -> {c.after:.4g}, p={c.p_value:.3g})"
                )
            rows.append(
                [
                    f"#{p.run.id}",
                    p.run.commit_sha[:12],
                    _printable(p.run.branch or "-"),
                    p.run.status,
                    f"{p.value:.4g}",
                    mark,
                ]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            cells = [r[i].ljust(widths[i]) if i < 4 else r[i].rjust(widths[i]) for i in range(5)]
            lines.append(("  ".join(cells) + "  " + r[5]).rstrip())
        if len(s.points) < 6:
            lines.append("(fewer than 6 runs: too few to find change points)")
        lines.append(
            f"{len(s.change_points)} change point(s) in {len(s.points)} runs "
            "(E-divisive, p <= 0.01)"
        )
        lines.append("")
    if not series:
        lines.append("no runs with that operation")
    return "\n".join(lines).rstrip() + "\n"


@click.command("history")
@click.option("--operation", default=None, help="One operation, e.g. 'GET /pets' (default: all).")
@click.option(
    "--metric",
    type=click.Choice(HISTORY_METRICS),
    default="p95",
    show_default=True,
)
@click.option("--branch", default=None, help="Only runs recorded on this branch.")
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=None,
    help="Repository (default: the only one in the database).",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
@FORMAT_OPTION
@HOME_OPTION
def history_command(
    operation: str | None,
    metric: str,
    branch: str | None,
    repo: Path | None,
    limit: int,
    fmt: str,
    home: Path | None,
) -> None:
    """The series of one metric per run and commit, with detected change points."""
    from plog_ci.analysis.stored_runs import history_series

    try:
        store = open_existing_store(home)
        try:
            key = _repo_key(repo, store)
            history = store.history(key, operation, branch, limit) if key else []
        finally:
            store.close()
        series = history_series(history, metric, operation)
    except PlogError as exc:
        fail(exc)
        return
    if operation is not None and not series and fmt == "text":
        click.echo(f"no finished runs measured {operation!r}", err=True)
    if fmt == "json":
        payload = {
            "repo": key,
            "branch": branch,
            "metric": metric,
            "series": [s.to_dict() for s in series],
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    click.echo(_history_text(series), nl=False)
