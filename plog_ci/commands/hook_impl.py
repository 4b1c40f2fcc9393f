"""``plog hook-impl`` (hidden): what the hook stubs that ``plog hooks install`` writes exec."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("hook-impl", hidden=True)
@click.argument("hook")
@click.option("--home", default=None)
@click.option("--protect", multiple=True)
@click.option("--strict", is_flag=True)
@click.option("--url", default=None)
@click.option("--stub", default=None, help="Path of the stub git ran (finds chained hooks).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook_impl(
    hook: str,
    home: str | None,
    protect: tuple[str, ...],
    strict: bool,
    url: str | None,
    stub: str | None,
    args: tuple[str, ...],
) -> None:
    """What the hook stubs exec (git runs them; not for people)."""
    from plog_ci.githooks import hook_main

    sys.exit(
        hook_main(
            hook,
            home=Path(home) if home else None,
            protect=protect,
            strict=strict,
            url=url,
            stub=stub,
            args=args,
        )
    )
