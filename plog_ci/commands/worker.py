"""``plog worker``: run queued jobs through the pipeline and post their verdicts."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from plog_ci.commands._params import FiniteFloatRange
from plog_ci.commands._sources import source_options

if TYPE_CHECKING:
    from plog_ci.forge.sources import SourcePolicy


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
    type=FiniteFloatRange(min=3),
    default=30.0,
    show_default=True,
    help="Seconds a job stays claimed without a heartbeat.",
)
@click.option("--poll", "poll_s", type=FiniteFloatRange(min=0.05), default=1.0, show_default=True)
@click.option(
    "--url",
    "--dashboard-url",
    default=None,
    envvar="PLOG_DASHBOARD_URL",
    help="Base URL of the dashboard (plog serve): statuses link the job, then the run's "
    "page, and reports and PR comments link the run. Env: PLOG_DASHBOARD_URL.",
)
@source_options
def worker(
    home: str | None,
    until_idle: bool,
    lease_s: float,
    poll_s: float,
    url: str | None,
    api_url: str | None,
    sources: SourcePolicy,
) -> None:
    """Run queued jobs through the pipeline and post their verdicts (run several at once).

    A job whose repository the allow-list refuses (same options as plog serve) ends
    as an error with the reason; nothing is fetched.
    """
    import logging

    from plog_ci.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    from plog_ci.dashboard_link import dashboard_url
    from plog_ci.errors import InputError

    try:
        url = dashboard_url(url)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    w = Worker(
        Path(home) if home else None,
        lease_s=lease_s,
        poll_s=poll_s,
        dashboard_url=url,
        sources=sources,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        w.stopping.set()  # finish the current job, then exit

    signal.signal(signal.SIGTERM, stop)
    # What a killed worker left (services, k6, temporary folders, runs left running):
    # reaped now, and again before every job.
    w.reap()
    if until_idle:
        w.run_until_idle()
    else:
        w.run_forever()
