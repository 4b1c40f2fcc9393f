"""``plog serve``: the webhook receiver (GitHub, Gitea, Forgejo) that enqueues jobs,
and the read-only dashboard (``plog_ci.web.dashboard``) on the same port."""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any

import click

from plog_ci.commands._sources import source_options
from plog_ci.errors import InputError, PlogError

if TYPE_CHECKING:
    from flask import Flask

    from plog_ci.forge.sources import SourcePolicy


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--home", type=click.Path(file_okay=False), default=None)
@click.option(
    "--forge",
    type=click.Choice(["github", "gitea"]),
    default="github",
    show_default=True,
    envvar="PLOG_FORGE",
    help="Where statuses and comments go (gitea needs --api-url). Env: PLOG_FORGE.",
)
@source_options
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Requests served at once (waitress, a production WSGI server).",
)
@click.option(
    "--no-webhook",
    is_flag=True,
    help="Serve the dashboard alone: no webhook secret needed, /webhook answers 503 "
    "(for git hooks or Actions setups that need no forge webhook).",
)
@click.option(
    "--max-streams",
    type=click.IntRange(1, 1024),
    default=64,
    show_default=True,
    help="Dashboard live streams (SSE) open at once; each has a thread of its own, "
    "beyond --threads, so watchers never hold up the webhook.",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=25 * 1024 * 1024,
    show_default=True,
    help="Largest delivery accepted, in bytes.",
)
def serve(
    host: str,
    port: int,
    home: str | None,
    forge: str,
    api_url: str | None,
    sources: SourcePolicy,
    threads: int,
    no_webhook: bool,
    max_streams: int,
    max_body: int,
) -> None:
    """Receive GitHub/Gitea webhooks (secret from $PLOG_WEBHOOK_SECRET) and enqueue jobs.

    Only repositories on the allow-list are queued (--allow-repo, --allow-forge-host;
    default: the forge's own host); others are answered 403.

    The dashboard (/, /runs/ID, /history, /api/...) answers without a token only on
    a loopback --host; elsewhere it needs $PLOG_DASHBOARD_TOKEN (Bearer, or the Basic password) and
    answers 401 until one is set. The webhook needs no token (it is signed).
    """
    from plog_ci.web import create_app

    if forge == "gitea" and not api_url:
        raise click.UsageError(
            "--forge gitea needs --api-url (e.g. https://gitea.example.com/api/v1): "
            "the token is only sent to a configured API URL"
        )
    secret = os.environ.get("PLOG_WEBHOOK_SECRET", "")
    dashboard_token = os.environ.get("PLOG_DASHBOARD_TOKEN", "")
    loopback = is_loopback(host)
    try:
        app = create_app(
            {
                "WEBHOOK_SECRET": secret,
                "WEBHOOK": not no_webhook,
                "PLOG_HOME": home,
                "FORGE": forge,
                "FORGE_API_URL": api_url,
                "SOURCES": sources,
                "MAX_BODY": max_body,
                "DASHBOARD_TOKEN": dashboard_token,
                "DASHBOARD_REQUIRE_TOKEN": not loopback,
                "DASHBOARD_MAX_STREAMS": max_streams,
            }
        )
    except PlogError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        server = listen(app, host, port, threads, max_streams)
        click.echo(f"plog serve: listening on http://{_url_host(host)}:{server.effective_port}")
        if no_webhook:
            click.echo("plog serve: webhook off (--no-webhook): the dashboard alone", err=True)
        if not loopback and not dashboard_token:
            works = "the webhook is off too" if no_webhook else "the webhook works"
            click.echo(
                f"plog serve: dashboard off: {host} is not a loopback address and "
                f"PLOG_DASHBOARD_TOKEN is not set (its pages answer 401; {works})",
                err=True,
            )
        run_until_stopped(server)
    finally:
        app.extensions["plog_intake"].close()


def listen(app: Flask, host: str, port: int, threads: int, max_streams: int) -> Any:
    """A waitress server for ``app`` on ``host:port`` (not yet running): ``threads`` for
    requests plus one per live stream. Raises InputError when the port is taken."""
    from waitress.server import create_server

    try:
        return create_server(
            app,
            host=host,
            port=port,
            threads=threads + max_streams,
            # waitress's default (100) would refuse watchers before the streams' limit
            connection_limit=max(100, 2 * (threads + max_streams)),
            ident="plog",
        )
    except OSError as exc:
        raise InputError(
            f"plog serve: cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick a free port with --port (0: any free port), or stop what holds it",
        ) from exc


def run_until_stopped(server: Any) -> None:
    """Serve until Ctrl-C or SIGTERM (waitress catches them), then raise
    KeyboardInterrupt so the exit code says so (130), as for every command."""
    try:
        server.run()
    finally:
        server.close()
    raise KeyboardInterrupt


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable only from this machine.
    A name other than ``localhost`` counts as not loopback: it may resolve anywhere."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
