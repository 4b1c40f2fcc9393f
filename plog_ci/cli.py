"""The plog command line."""

from __future__ import annotations

import click

from plog_ci import __version__


@click.group()
@click.version_option(__version__, prog_name="plog")
def cli() -> None:
    """PLog CI: load-test what a commit changed and post the verdict back."""


def main() -> None:
    cli()


__import__("plog_ci.cli_git").cli_git.register(cli)  # git commands: hooks, worker, serve
