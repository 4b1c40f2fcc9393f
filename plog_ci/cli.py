"""The plog command line."""

from __future__ import annotations

import click

from plog_ci import __version__


@click.group()
@click.version_option(__version__, prog_name="plog")
def cli() -> None:
    """PLog CI: load-test what a commit changed and post the verdict back."""


from plog_ci.cli_diff import diff_command  # noqa: E402

cli.add_command(diff_command)


def main() -> None:
    cli()
