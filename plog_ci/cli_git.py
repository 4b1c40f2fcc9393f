"""Commands for the git side: ``plog hooks``, ``plog worker``, ``plog serve``, ``hook-impl``."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from plog_ci.errors import PlogError


def _home(value: str | None) -> Path | None:
    return Path(value) if value else None


@click.group("hooks")
def hooks() -> None:
    """Install or remove the PLog hooks of a (bare) git repository."""


@hooks.command("install")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--protect",
    multiple=True,
    metavar="BRANCH",
    help="Refuse heads with a failed verdict on this branch (repeatable).",
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
    from plog_ci.githooks import install_hooks

    try:
        paths = install_hooks(repo, protect=protect, strict=strict, home=_home(home), url=url)
    except PlogError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(f"installed {path}")


@hooks.command("uninstall")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
def hooks_uninstall(repo: Path) -> None:
    """Remove PLog's hooks from REPO and restore chained ones."""
    from plog_ci.githooks import uninstall_hooks

    try:
        paths = uninstall_hooks(repo)
    except PlogError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in paths:
        click.echo(f"removed {path}")
    if not paths:
        click.echo("no PLog hooks found")


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
            hook, home=_home(home), protect=protect, strict=strict, url=url, stub=stub, args=args
        )
    )


@click.command("worker")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="State directory; default $PLOG_HOME.",
)
@click.option("--until-idle", is_flag=True, help="Exit once no job is left.")
@click.option(
    "--lease",
    "lease_s",
    type=click.FloatRange(min=3),
    default=30.0,
    show_default=True,
    help="Seconds a job stays claimed without a heartbeat.",
)
@click.option("--poll", "poll_s", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@click.option("--url", default=None, help="Dashboard URL used as the statuses' target URL.")
def worker(
    home: str | None, until_idle: bool, lease_s: float, poll_s: float, url: str | None
) -> None:
    """Run queued jobs through the pipeline and post their verdicts (run several at once)."""
    from plog_ci.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    w = Worker(_home(home), lease_s=lease_s, poll_s=poll_s, dashboard_url=url)

    def stop(signum: int, frame: FrameType | None) -> None:
        w.stopping.set()  # finish the current job, then exit

    signal.signal(signal.SIGTERM, stop)
    if until_idle:
        w.run_until_idle()
    else:
        w.run_forever()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--home", type=click.Path(file_okay=False), default=None)
@click.option(
    "--forge",
    type=click.Choice(["github", "gitea"]),
    default="github",
    show_default=True,
    help="Where statuses and comments go.",
)
@click.option("--api-url", default=None, help="Forge API URL (required for Gitea).")
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=25 * 1024 * 1024,
    show_default=True,
    help="Largest delivery accepted, in bytes.",
)
def serve(
    host: str, port: int, home: str | None, forge: str, api_url: str | None, max_body: int
) -> None:
    """Receive GitHub/Gitea webhooks (secret from $PLOG_WEBHOOK_SECRET) and enqueue jobs."""
    from werkzeug.serving import run_simple

    from plog_ci.web import create_app

    secret = os.environ.get("PLOG_WEBHOOK_SECRET", "")
    try:
        app = create_app(
            {
                "WEBHOOK_SECRET": secret,
                "PLOG_HOME": home,
                "FORGE": forge,
                "FORGE_API_URL": api_url,
                "MAX_BODY": max_body,
            }
        )
    except PlogError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        run_simple(host, port, app, threaded=True)
    finally:
        app.extensions["plog_intake"].close()


COMMANDS = (hooks, hook_impl, worker, serve)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
