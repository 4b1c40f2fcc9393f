"""``plog serve``: the webhook receiver (GitHub, Gitea, Forgejo) that enqueues jobs."""

from __future__ import annotations

import os

import click

from plog_ci.errors import PlogError


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
