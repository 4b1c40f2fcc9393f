"""``plog export RUN_ID``: one stored run's page as one self-contained HTML file.

The file (``web.dashboard.export``) needs no server and no network: styles,
scripts and data are inside it, and its content-security policy forbids every
request. CI uploads it as an artifact next to the markdown report.

Exit codes: 0 written; 2 no such run, or no results store (the message names both);
4 the file cannot be written.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import click

from plog_ci.commands._results import HOME_OPTION, fail
from plog_ci.errors import ExitCode, InputError, PlogError

STDOUT = "-"


class OutputError(PlogError):
    """The export's file cannot be written (exit 4, like an unwritable state directory)."""

    exit_code = ExitCode.MISSING_DEPENDENCY


def default_name(run_id: int) -> str:
    """``plog-run-<id>.html``: the file's name when ``-o`` is not given."""
    return f"plog-run-{run_id}.html"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder, so a reader
    (an upload step) never sees half a file. OutputError when it cannot."""
    folder = path.parent if str(path.parent) else Path(".")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep a CI artifact from others
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="choose a writable file with -o, or '-' for standard output",
        ) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def export_file(store: Path, run_id: int) -> str:
    """The run's page as one HTML file; InputError naming the run and the store when
    the store or the run is missing, or the file is not a results store."""
    from plog_ci.web.dashboard.export import export_run

    if not store.is_file():
        raise InputError(
            f"no results store at {store}: run #{run_id} cannot be exported",
            hint="point --home / PLOG_HOME at the state directory that ran it",
        )
    try:
        exported = export_run(store, run_id)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{store}: not a readable results store ({exc})") from None
    if exported is None:
        raise InputError(
            f"no run #{run_id} in the results store at {store}",
            hint="'plog history' or the dashboard lists the runs",
        )
    return exported.html


@click.command("export")
@click.argument("run_id", type=click.IntRange(min=1))
@HOME_OPTION
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=None,
    help="The file to write (default: plog-run-RUN_ID.html here; '-' for standard output).",
)
def export_command(run_id: int, home: Path | None, output: Path | None) -> None:
    """Write run RUN_ID's page as one HTML file that opens offline (a CI artifact)."""
    from plog_ci.home import state_dir

    try:
        store = state_dir(home, create=False) / "results.sqlite3"
        page = export_file(store, run_id)
        if output is not None and str(output) == STDOUT:
            click.echo(page, nl=False)
            return
        target = output or Path(default_name(run_id))
        write_atomically(target, page)
    except PlogError as exc:
        fail(exc)
    click.echo(f"wrote {target} ({len(page.encode('utf-8')) / 1e6:.2f} MB)", err=True)
