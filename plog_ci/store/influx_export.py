"""Export one stored run to InfluxDB, as configured in plog.yml's ``influx:`` section.

Written when a run is finished (``InfluxSeries``, the pipeline's InfluxDB sink), or
again on demand (``export_run``). What is sent:

* the run's per-second series, one point per operation and second; or, when
  the run kept none,
* one point per operation with its summary statistics, stamped with the
  second the run finished (``runs.finished_at``, stored, so exporting the run
  again gives the same timestamp and overwrites instead of duplicating).

Secrets come from the environment variables that ``token_env`` and
``password_env`` name. Nothing here raises: a sink problem is a warning in
the returned :class:`SinkReport` (and in the log), never a failed run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from plog_ci.config.model import Config, InfluxConfig
from plog_ci.results import SeriesPoint
from plog_ci.store.influx import InfluxSettings, InfluxSink, RunTags, SinkReport
from plog_ci.store.sqlite import ResultsStore, RunRecord

log = logging.getLogger(__name__)


def settings_from_config(influx: InfluxConfig, env: dict[str, str] | None = None) -> InfluxSettings:
    """Sink settings with the secrets read from the named environment variables."""
    env = dict(os.environ) if env is None else env
    return InfluxSettings(
        url=influx.url,
        api=influx.api,
        database=influx.database,
        retention_policy=influx.retention_policy,
        username=influx.username,
        password=env.get(influx.password_env, "") if influx.password_env else "",
        org=influx.org,
        bucket=influx.bucket,
        token=env.get(influx.token_env, "") if influx.token_env else "",
        measurement=influx.measurement,
        batch_size=influx.batch_size,
        retries=influx.retries,
        timeout_s=influx.timeout_s,
    )


def run_points(store: ResultsStore, record: RunRecord) -> list[SeriesPoint]:
    """The points of one run, with timestamps that depend only on stored data."""
    stored = store.series(record.id)
    if stored:
        return stored
    ended = int(record.finished_at or record.started_at)
    return [
        SeriesPoint(
            name,
            ended,
            count=s.count,
            failures=min(s.failures, s.count),
            min=s.min,
            mean=s.mean,
            p50=s.p50,
            p90=s.p90,
            p95=s.p95,
            p99=s.p99,
            max=s.max,
        )
        for name, s in sorted(store.operation_stats(record.id).items())
    ]


def export_run(
    store: ResultsStore,
    run_id: int,
    config: Config,
    home: Path,
    points: Sequence[SeriesPoint] | None = None,
) -> SinkReport | None:
    """Write run ``run_id`` to the configured sink; None when no sink is configured.

    ``points``: the run's series as it streamed (``InfluxSeries``); None reads what the
    store kept (``run_points``), which is how a stored run is exported again.
    """
    if config.influx is None:
        return None
    report = SinkReport()
    try:
        influx = config.influx
        for name in (influx.token_env, influx.password_env):
            if name and not os.environ.get(name):
                report.warnings.append(f"influx sink: environment variable {name} is not set")
        settings = settings_from_config(influx)
        record = store.get_run(run_id)
        tags = RunTags(
            repo=Path(record.repo).name,
            commit=record.commit_sha,
            branch=record.branch or "",
            run_id=str(record.id),
            profile=record.profile,
        )
        sink = InfluxSink(settings, home / "spool" / "influx")
        sent = sink.write(tags, points or run_points(store, record))
        sent.warnings[:0] = report.warnings
        report = sent
    except Exception as exc:  # the sink never fails a run
        report.warnings.append(f"influx sink: export of run #{run_id} failed: {exc}")
    for warning in report.warnings:
        log.warning("%s", warning)
    return report


class InfluxSeries:
    """InfluxDB as a live-series sink (``plog_ci.series.SeriesSink``).

    Points are held until ``stop()`` (the run is recorded by then), then written in
    batches: a slow or dead InfluxDB never holds up the load test's main thread. A
    run that streamed nothing (an interleaved run keeps blocks, not seconds) is
    written as its summary points; past ``max_points`` the stored series is sent.
    """

    def __init__(
        self,
        store: ResultsStore,
        run_id: int,
        config: Config,
        home: Path,
        *,
        max_points: int = 500_000,
    ) -> None:
        self.store, self.run_id, self.config, self.home = store, run_id, config, home
        self.max_points = max_points
        self.points: list[SeriesPoint] = []
        self.overflowed = False
        self.report: SinkReport | None = None

    def add(self, points: Sequence[SeriesPoint]) -> None:
        if len(self.points) + len(points) > self.max_points:
            self.overflowed = True
        if not self.overflowed:
            self.points.extend(points)

    def stop(self, error: BaseException | None) -> None:
        """Write a completed run; never raises (warnings go to the log and ``report``).

        A run that ended in an error or was interrupted is not written, nor one that
        measured nothing (no operation changed).
        """
        if error is not None:
            return
        held = None if self.overflowed else self.points
        if not held and not self.store.operation_stats(self.run_id):
            return
        self.report = export_run(self.store, self.run_id, self.config, self.home, held)
