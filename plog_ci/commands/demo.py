"""``plog demo``: the whole path on a throwaway repository (``plog_ci.demo`` builds it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from plog_ci.commands._output import err_console, out_console


@click.command()
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to build the demo repository (default: a new temp dir).",
)
def demo(workdir: Path | None) -> None:
    """Build a throwaway repo from examples/petstore and gate two commits."""
    from plog_ci.demo import run_demo

    sys.exit(run_demo(workdir, console=err_console(), out=out_console()))
