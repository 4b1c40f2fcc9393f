"""What ``plog compare`` and ``plog history`` share: their options and the results store.

Exit codes of both: 0 (the command worked, whatever the verdicts), 2 for bad
input: an unknown run id, no results database, a repository with no runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plog_ci.errors import InputError, PlogError

if TYPE_CHECKING:
    from plog_ci.store.sqlite import ResultsStore

HOME_OPTION = click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="State directory (default: $PLOG_HOME, else $XDG_DATA_HOME/plog, else "
    "~/.local/share/plog).",
)
FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)


def open_existing_store(home: Path | None) -> ResultsStore:
    """The results database; InputError when there is none (never creates one)."""
    import sqlite3

    from plog_ci.home import state_dir
    from plog_ci.store.sqlite import ResultsStore

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


def fail(exc: PlogError) -> None:
    """Print a PlogError as ``error: ...`` and exit with its code."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(int(exc.exit_code))
