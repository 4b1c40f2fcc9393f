"""Which load generator runs a script: one k6, N local k6 processes, or a TestRun.

The one place that decides, for any script and targets: the head alone, or base and
head side by side (an interleaved schedule, a duet). ``load.runners`` 1 (the
default): one k6 process, judging its own abort thresholds. N > 1: N execution
segments of the same script (k6 splits every scenario's arrival rate and VUs
without overlap, the interleaved schedule's timed scenarios included), all pushing
to the run's capture, merged exactly, their abort gates judged by PLog on the whole
(``runner.merged_gates``); with ``deploy.target: helm`` they run in the cluster as a
k6-operator TestRun in the job's namespace (``runner.testrun``), else as N local
processes (``runner.segments``). A runner that could not keep the rate is said as
the load generator's limit (``runner.segments.saturation_line``), never as the
service's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from plog_ci.config import Config
from plog_ci.deploy.helm import HelmSide
from plog_ci.deploy.kube import Cluster
from plog_ci.deploy.target import Side
from plog_ci.errors import ConfigError
from plog_ci.gate_grammar import Gate
from plog_ci.loadgen.script import Script, host_of, side_urls
from plog_ci.results import LoadResult, SeriesPoint
from plog_ci.runner.capture import Capture, SeriesCallback
from plog_ci.runner.k6 import K6Exit, check_target, finish_exit, run_captured
from plog_ci.runner.merged_gates import CATASTROPHIC, abort_gates
from plog_ci.runner.segments import (
    RunnerCapture,
    RunnerTally,
    run_segments_captured,
    saturation_line,
    segment_sequence,
    tallies,
)
from plog_ci.runner.testrun import KubeTestRunApi, TestRunApi, capture_listen, run_testrun

# Runner pods pull their image and start before the test: time on top of the k6 cap.
POD_START_S = 300.0
TestRunApiFor = Callable[[Cluster], TestRunApi]


def _kube_api(cluster: Cluster) -> TestRunApi:
    return KubeTestRunApi(cluster.api_client)


def cluster_hosts(config: Config, *sides: Side) -> tuple[str, ...]:
    """Hosts the script must admit for in-cluster runners: the releases' Services."""
    if config.deploy.target == "helm" and config.load.runners > 1:
        return tuple(host_of(side.base_url) for side in sides)
    return ()


@dataclass(frozen=True)
class Loaded:
    """How a load ended, as one k6 (``ended``), and each runner's tally (none for one k6)."""

    ended: K6Exit
    runners: tuple[RunnerTally, ...] = ()

    @property
    def saturation(self) -> str | None:
        """The load generator's limit, in a sentence, or None (``saturation_line``)."""
        return saturation_line(self.runners)


@dataclass(frozen=True)
class Runners:
    """The runners of one load: ``script`` against ``urls`` (side -> URL: "head" alone,
    or "base" and "head" for a two-sided script). Build the capture with ``capture``,
    hang what reads it per side or round on it as followers, then ``run``.

    ``count`` 1: one k6; more: that many segments, on this machine or, with
    ``cluster`` (the release's HelmSide), as a TestRun named ``plog-load-<run_id>``.
    """

    script: Script
    urls: Mapping[str, str]
    workdir: Path
    timeout_s: float
    count: int = 1
    gates: tuple[Gate, ...] = (CATASTROPHIC,)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[str] = ()
    cluster: HelmSide | None = None
    run_id: int = 0
    testrun_api: TestRunApiFor = _kube_api

    def capture(
        self,
        *,
        where: dict[str, str] | None = None,
        followers: tuple[Capture, ...] = (),
        on_second: SeriesCallback | None = None,
    ) -> RunnerCapture:
        """The run's capture, unstarted (``run`` starts it); in-cluster runners reach it
        at ``PLOG_CAPTURE_LISTEN``."""
        listen = capture_listen() if self.cluster is not None else ("127.0.0.1", 0)
        return RunnerCapture(
            self.script.operations,
            on_second=on_second,
            listen=listen,
            where=where,
            followers=followers,
            # N runners' pushes: one live point per second (runner.second_merge)
            merge_seconds=self.count > 1,
        )

    def run(
        self, capture: RunnerCapture, *, on_tick: Callable[[float], None] | None, summary: bool
    ) -> Loaded:
        """Run the load into ``capture`` (from ``capture``); how it ended. ``on_tick``
        raising ``HardCapReached`` (or a subclass) stops every runner, and what was
        measured stands (code 105). Raises what the runners raise."""
        two = "base" in self.urls
        head = self.urls["head"]
        if self.cluster is not None and self.count > 1:
            return self._testrun(capture, on_tick, two)
        pin = check_target(" ".join(self.urls[s] for s in sorted(self.urls)), self.script)
        env = {**pin, **(side_urls(dict(self.urls)) if two else {}), **self.extra_env}
        with capture:
            if self.count <= 1:
                ended = run_captured(
                    self.script,
                    head,
                    capture,
                    self.workdir,
                    timeout_s=self.timeout_s,
                    extra_env=env,
                    on_tick=on_tick,
                    summary=summary,
                    secrets=self.secrets,
                )
                return Loaded(ended)
            ended, cpu = run_segments_captured(
                self.script,
                head,
                capture,
                self.workdir,
                self.count,
                timeout_s=self.timeout_s,
                abort_gates=self.gates,
                extra_env=env,
                on_tick=on_tick,
                secrets=self.secrets,
            )
        _, segments = segment_sequence(self.count)
        duration = self.script.duration_s or ended.elapsed
        return Loaded(ended, tallies(capture, segments, duration, cpu))

    def _testrun(
        self,
        capture: RunnerCapture,
        on_tick: Callable[[float], None] | None,
        two: bool,
    ) -> Loaded:
        assert self.cluster is not None
        release = self.cluster.release
        # A fork's pull request has them blanked (extra_env), as for a local k6.
        credentials = {
            n: self.extra_env.get(n, os.environ.get(n, "")) for n in self.script.secret_env
        }
        merged = run_testrun(
            self.testrun_api(release.cluster),
            self.script,
            namespace=release.namespace,
            name=f"plog-load-{self.run_id}",
            runners=self.count,
            base_url=self.urls["head"],
            timeout_s=self.timeout_s + POD_START_S,
            abort_gates=self.gates,
            on_tick=on_tick,
            secret_env=credentials,
            capture=capture,
            targets=side_urls(dict(self.urls)) if two else None,
        )
        result = merged.result
        ended = K6Exit(result.k6_exit_code, result.duration_s, None, result.aborted)
        return Loaded(ended, merged.runners)


def runners_for(
    config: Config,
    script: Script,
    urls: Mapping[str, str],
    head: Side,
    workdir: Path,
    *,
    run_id: int,
    timeout_s: float,
    extra_env: Mapping[str, str],
    secrets: Sequence[str],
    testrun_api: TestRunApiFor = _kube_api,
) -> Runners:
    """The runners ``config`` asks for (``load.runners``, ``deploy.target``) for ``script``
    against ``urls``; ``head`` is the release a TestRun runs beside. Raises ConfigError
    when in-cluster runners have no release."""
    count = config.load.runners
    cluster: HelmSide | None = None
    if count > 1 and config.deploy.target == "helm":
        if not isinstance(head, HelmSide):
            raise ConfigError("load.runners with deploy.target helm needs a release to load")
        cluster = head
    return Runners(
        script,
        dict(urls),
        workdir,
        timeout_s,
        count,
        abort_gates(config.gates, breakpoint=config.load.profile == "breakpoint"),
        dict(extra_env),
        tuple(secrets),
        cluster,
        run_id,
        testrun_api,
    )


def with_limit(
    result: LoadResult, runners: Sequence[RunnerTally], warn: Callable[[str], None]
) -> LoadResult:
    """``result`` with the runners' saturation as its ``load_limit`` (and said to ``warn``),
    or unchanged when no runner dropped iterations."""
    line = saturation_line(runners)
    if line is None:
        return result
    warn(line)
    return replace(result, load_limit=line)


def load_head(
    config: Config,
    script: Script,
    head: Side,
    base_url: str,
    workdir: Path,
    *,
    run_id: int,
    timeout_s: float,
    on_tick: Callable[[float], None] | None,
    on_second: Callable[[list[SeriesPoint]], None] | None,
    extra_env: dict[str, str],
    secrets: Sequence[str],
    warn: Callable[[str], None],
    testrun_api: TestRunApiFor = _kube_api,
) -> LoadResult:
    """Load ``base_url`` with ``script`` by the runners ``config`` asks for (see the
    module); ``warn`` hears the runners' saturation. Raises what the runner raises."""
    runners = runners_for(
        config,
        script,
        {"head": base_url},
        head,
        workdir,
        run_id=run_id,
        timeout_s=timeout_s,
        extra_env=extra_env,
        secrets=secrets,
        testrun_api=testrun_api,
    )
    capture = runners.capture(on_second=on_second)
    loaded = runners.run(capture, on_tick=on_tick, summary=runners.count <= 1)
    ended = loaded.ended
    result = finish_exit(capture, script, ended)
    return with_limit(result, loaded.runners, warn)
