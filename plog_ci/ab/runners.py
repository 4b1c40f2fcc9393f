"""Which load generator loads the head: one k6, N local k6 processes, or a TestRun.

``load.runners`` 1 (the default): one k6 process (``runner.k6.run_k6``), judging its
own abort thresholds. N > 1: N execution segments merged in one capture, their
abort gates judged by PLog on the whole (``runner.merged_gates``); with
``deploy.target: helm`` they run in the cluster as a k6-operator TestRun in the
job's namespace (``runner.testrun``), else as N local processes
(``runner.segments``). A runner that could not keep the rate is said as the load
generator's limit (``MergedRun.saturation``), never as the service's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from plog_ci.config import Config
from plog_ci.deploy.helm import HelmSide
from plog_ci.deploy.kube import Cluster
from plog_ci.deploy.target import Side
from plog_ci.errors import ConfigError
from plog_ci.loadgen.script import Script, host_of
from plog_ci.results import LoadResult, SeriesPoint
from plog_ci.runner.k6 import run_k6
from plog_ci.runner.merged_gates import abort_gates
from plog_ci.runner.segments import MergedRun, run_merged
from plog_ci.runner.testrun import KubeTestRunApi, TestRunApi, run_testrun

# Runner pods pull their image and start before the test: time on top of the k6 cap.
POD_START_S = 300.0
TestRunApiFor = Callable[[Cluster], TestRunApi]


def _kube_api(cluster: Cluster) -> TestRunApi:
    return KubeTestRunApi(cluster.api_client)


def cluster_hosts(config: Config, head: Side) -> tuple[str, ...]:
    """Hosts the script must admit for in-cluster runners: the release's Service."""
    if config.deploy.target == "helm" and config.load.runners > 1:
        return (host_of(head.base_url),)
    return ()


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
    runners = config.load.runners
    if runners <= 1:
        return run_k6(
            script,
            base_url,
            workdir,
            timeout_s=timeout_s,
            on_tick=on_tick,
            on_second=on_second,
            extra_env=extra_env,
            secrets=secrets,
        )
    gates = abort_gates(config.gates, breakpoint=config.load.profile == "breakpoint")
    merged: MergedRun
    if config.deploy.target == "helm":
        if not isinstance(head, HelmSide):
            raise ConfigError("load.runners with deploy.target helm needs a release to load")
        release = head.release
        # A fork's pull request has them blanked (extra_env), as for a local k6.
        credentials = {n: extra_env.get(n, os.environ.get(n, "")) for n in script.secret_env}
        merged = run_testrun(
            testrun_api(release.cluster),
            script,
            namespace=release.namespace,
            name=f"plog-load-{run_id}",
            runners=runners,
            base_url=base_url,
            timeout_s=timeout_s + POD_START_S,
            abort_gates=gates,
            on_tick=on_tick,
            on_second=on_second,
            secret_env=credentials,
        )
    else:
        merged = run_merged(
            script,
            base_url,
            workdir,
            runners,
            timeout_s=timeout_s,
            abort_gates=gates,
            extra_env=extra_env,
            on_tick=on_tick,
            on_second=on_second,
            secrets=secrets,
        )
    if merged.saturation is None:
        return merged.result
    warn(merged.saturation)
    return replace(merged.result, load_limit=merged.saturation)
