"""``plog demo``: the whole path on a throwaway repository (``plog_ci.demo`` builds it)."""

from __future__ import annotations

import sys
import tempfile
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
@click.option(
    "--serve",
    is_flag=True,
    help="Afterwards, serve the dashboard of the demo's runs on 127.0.0.1 until Ctrl-C.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="The dashboard's port with --serve (0: any free port).",
)
@click.option(
    "--target",
    type=click.Choice(["process", "podman"]),
    default="process",
    show_default=True,
    help="Run each commit as processes, or build its image with buildah, push it to a "
    "registry and run it by digest with podman (root; packages podman buildah skopeo "
    "runc catatonit).",
)
@click.option(
    "--base-image",
    metavar="IMAGE",
    default=None,
    help="With --target podman: the Containerfile's BASE, an image with python3 and Flask "
    "(default: python:3.11-slim, pulled when absent).",
)
@click.option(
    "--registry",
    metavar="URL",
    default=None,
    help="With --target podman: the registry to push to, anonymously (host:port, http:// "
    "without TLS; 'none': keep the images local). Default: Debian's docker-registry "
    "started on a free loopback port for the demo.",
)
def demo(
    workdir: Path | None,
    serve: bool,
    port: int,
    target: str,
    base_image: str | None,
    registry: str | None,
) -> None:
    """Build a throwaway repo from examples/petstore and gate two commits; print where
    the dashboard shows them (or, with --serve, serve it)."""
    from functools import partial

    from plog_ci.demo import demo_home
    from plog_ci.demo import run_demo as run_any

    run_demo = partial(run_any, target=target, base_image=base_image, registry=registry)
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="plog-demo-"))
    if not serve:
        sys.exit(run_demo(root, console=err_console(), out=out_console()))

    from plog_ci.commands.serve import listen, run_until_stopped
    from plog_ci.web import create_app

    home = demo_home(root)
    home.mkdir(parents=True, exist_ok=True)
    app = create_app({"WEBHOOK": False, "PLOG_HOME": str(home)})
    try:
        server = listen(app, "127.0.0.1", port, threads=4, max_streams=16)  # bound before
        url = f"http://127.0.0.1:{server.effective_port}"
        code = run_demo(root, console=err_console(), out=out_console(), serving=url)
        if code != 0:
            server.close()
            sys.exit(code)
        run_until_stopped(server)
    finally:
        app.extensions["plog_intake"].close()
