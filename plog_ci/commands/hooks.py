"""``plog hooks install|uninstall``: PLog's hooks on a (bare) git repository."""

from __future__ import annotations

from pathlib import Path

import click

from plog_ci.errors import PlogError


def _branch_names(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    from plog_ci.hook_install import check_branch_name

    for name in value:
        problem = check_branch_name(name)
        if problem is not None:
            raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


@click.group("hooks")
def hooks() -> None:
    """Install or remove the PLog hooks of a (bare) git repository."""


@hooks.command("install")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--protect",
    multiple=True,
    metavar="BRANCH",
    callback=_branch_names,
    help="Refuse heads with a failed verdict on this branch (repeatable; a branch name "
    "by git's rules, as in 'git check-ref-format --branch').",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Also refuse untested heads on protected branches, and block pushes "
    "when PLog itself fails.",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="State directory (queue, spool); default $PLOG_HOME.",
)
@click.option("--url", default=None, help="Dashboard URL printed to the pusher.")
def hooks_install(
    repo: Path, protect: tuple[str, ...], strict: bool, home: str | None, url: str | None
) -> None:
    """Write pre-receive and post-receive stubs into REPO (existing hooks are chained)."""
    from plog_ci.hook_install import install_hooks

    try:
        paths = install_hooks(
            repo, protect=protect, strict=strict, home=Path(home) if home else None, url=url
        )
    except PlogError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(f"installed {path}")


@hooks.command("uninstall")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
def hooks_uninstall(repo: Path) -> None:
    """Remove PLog's hooks from REPO and restore chained ones."""
    from plog_ci.hook_install import uninstall_hooks

    try:
        paths = uninstall_hooks(repo)
    except PlogError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(f"removed {path}")
    if not paths:
        click.echo("no PLog hooks found")
