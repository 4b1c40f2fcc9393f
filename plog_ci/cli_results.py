"""``plog compare`` and ``plog history``: statistics on the results store.

``plog compare RUN_A RUN_B`` compares two stored runs per operation in the
spirit of benchstat (old, new, delta, confidence interval, p-value, verdict);
``plog compare RUN`` compares the base and head blocks of one interleaved run,
paired. ``plog history`` shows one metric per run and commit, oldest first,
with change points found by E-divisive. Both take ``--format json``.

Exit codes: 0 (the command worked, whatever the verdicts), 2 for bad input:
an unknown run id, no results database, a repository with no runs.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click

from plog_ci.analysis.compare_table import render_text, to_json_data
from plog_ci.analysis.stats import LATENCY_METRICS, StatsSettings
from plog_ci.analysis.stored_runs import (
    HISTORY_METRICS,
    HistorySeries,
    RunSamples,
    compare_stored,
    history_series,
    interleaved_sides,
    run_level_samples,
    run_samples,
)
from plog_ci.errors import InputError, PlogError
from plog_ci.gitrepo import GitRepo
from plog_ci.home import state_dir
from plog_ci.store.sqlite import ResultsStore

_HOME = click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="State directory (default: $PLOG_HOME or ~/.local/share/plog).",
)
_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)


def open_existing_store(home: Path | None) -> ResultsStore:
    """The results database; InputError when there is none (never creates one)."""
    path = state_dir(home) / "results.sqlite3"
    if not path.is_file():
        raise InputError(
            f"no results database at {path}",
            hint="run 'plog run' first, or point --home / PLOG_HOME at the state directory",
        )
    try:
        return ResultsStore(path)
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"{path}: not a readable results database ({exc})",
            hint="point --home / PLOG_HOME at a PLog state directory",
        ) from None


def _fail(exc: PlogError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(int(exc.exit_code))


def _side(s: RunSamples) -> dict[str, Any]:
    return {
        "run_id": s.run.id,
        "commit": s.run.commit_sha,
        "branch": s.run.branch,
        "status": s.run.status,
        "samples": s.source,
    }


@click.command("compare")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int, required=False)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 0.2, min_open=True),
    default=0.01,
    show_default=True,
    help="Significance level after Holm's correction.",
)
@click.option(
    "--min-effect",
    type=click.FloatRange(0, 100),
    default=5.0,
    show_default=True,
    help="Smaller changes (percent) are never claimed.",
)
@_FORMAT
@_HOME
def compare_command(
    run_a: int, run_b: int | None, alpha: float, min_effect: float, fmt: str, home: Path | None
) -> None:
    """Compare RUN_B with RUN_A per operation, or one interleaved RUN's base with its head."""
    try:
        store = open_existing_store(home)
        try:
            run_level = None
            if run_b is None:
                old, new = interleaved_sides(store, run_a)
                paired = True
            else:
                old, new = run_samples(store, run_a), run_samples(store, run_b)
                paired = False
                # Two separate runs: latency is judged run against run (see stats).
                run_level = (
                    run_level_samples(store, [run_a], run_b, LATENCY_METRICS)
                    if old.source == new.source == "series"
                    else None
                )
        finally:
            store.close()
        settings = StatsSettings(
            alpha=alpha,
            min_effect_pct=min_effect,
            paired=paired,
            metrics=("p95", "error_rate", "rps"),
        )
        comparisons = compare_stored(old, new, settings, run_level)
    except PlogError as exc:
        _fail(exc)
        return
    if fmt == "json":
        data = to_json_data(comparisons, settings)
        data["old"], data["new"] = _side(old), _side(new)
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    what = "base blocks against head blocks, paired" if paired else "unpaired"
    click.echo(f"old: {old.describe()}\nnew: {new.describe()}\n({what})\n")
    click.echo(render_text(comparisons, settings), nl=False)


def _repo_key(repo: Path | None, store: ResultsStore) -> str | None:
    """The repository path as the pipeline stores it; None when the store has one only."""
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
@_FORMAT
@_HOME
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
    try:
        store = open_existing_store(home)
        try:
            key = _repo_key(repo, store)
            history = store.history(key, operation, branch, limit) if key else []
        finally:
            store.close()
        series = history_series(history, metric, operation)
    except PlogError as exc:
        _fail(exc)
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
