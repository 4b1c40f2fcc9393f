"""``plog validate [PATH]``: check a plog.yml."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from plog_ci.errors import ConfigError, ExitCode


@click.command()
@click.argument("path", required=False, default="plog.yml", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    """Check plog.yml (default: ./plog.yml). Exit 0 when valid, 2 with every problem."""
    from plog_ci.config import load_config

    try:
        load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        if exc.hint and len(exc.errors) == 1:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(ExitCode.INVALID_INPUT)
    click.echo(f"{path}: valid")
