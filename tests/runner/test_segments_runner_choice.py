"""load.runners chooses the load generator (plog_ci.ab.runners): one k6, N local k6
processes, or a k6-operator TestRun when deploy.target is helm; all real k6."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from plog_ci.ab.runners import cluster_hosts, load_head
from plog_ci.config.parse import parse_config
from plog_ci.deploy.helm import HelmRelease, HelmSide
from plog_ci.deploy.kube import Cluster
from plog_ci.loadgen.script import generate
from testing.k6_tools import need_k6
from testing.paths import ROOT
from testing.specs import load_any_spec
from tests.runner.test_merged_gates import segment_server
from tests.runner.test_testrun import NS, cluster  # noqa: F401 - the fixture

YAML = """
version: 1
service: {run: "python app.py --port {port}"}
openapi: openapi.yaml
load: {rate: %(rate)s, duration: 3s, vus: 4, runners: %(runners)s, operations: all}
gates: ["p95 < 300ms"]
"""


class _Local:
    def __init__(self, url: str) -> None:
        self.base_url = url

    def wait_healthy(self) -> float:
        return 0.0


def _config(runners: int, rate: int = 12):
    return parse_config(YAML % {"runners": runners, "rate": rate})


def _script(config, url: str, hosts: tuple[str, ...] = ()):
    spec = load_any_spec(ROOT / "examples/petstore/openapi.yaml")
    return generate(spec, [spec.operations["GET /pets"]], config.load, url, allow_hosts=hosts)


def _load(config, script, side, url: str, tmp_path: Path, warned: list[str], **kw):
    return load_head(
        config,
        script,
        side,
        url,
        tmp_path / "k6",
        run_id=7,
        timeout_s=60,
        on_tick=None,
        on_second=None,
        extra_env={},
        secrets=(),
        warn=warned.append,
        **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("runners", "segments"), [(1, {"?"}), (3, {"0:1/3", "1/3:2/3", "2/3:1"})])
def test_local_runners(tmp_path, runners, segments):
    need_k6()
    config, warned = _config(runners), []
    with segment_server(lambda s, n: (200, 0.0)) as (url, seen):
        result = _load(config, _script(config, url), _Local(url), url, tmp_path, warned)
    assert set(seen) == segments and result.total.count == sum(seen.values())
    assert 33 <= result.total.count <= 37 and result.k6_exit_code == 0
    assert warned == []
    assert cluster_hosts(config, _Local("http://pets.ns.svc:8080")) == ()


@pytest.mark.slow
def test_helm_target_runs_a_testrun_in_the_jobs_namespace(cluster, tmp_path):  # noqa: F811
    fake, _, operator = cluster
    config = _config(2)
    config = replace(config, deploy=replace(config.deploy, target="helm"))
    core = Cluster(_api_client(fake), fake.url)
    release = HelmRelease(None, core, NS, "head", tmp_path, {}, 60.0)  # type: ignore[arg-type]
    with segment_server(lambda s, n: (200, 0.0)) as (url, seen):
        side = HelmSide(release, url, "/health", 10.0, None)
        warned: list[str] = []
        script = _script(config, url, cluster_hosts(config, side))
        result = _load(config, script, side, url, tmp_path, warned)
    (testrun,) = operator.seen
    assert testrun["metadata"] == {**testrun["metadata"], "name": "plog-load-7", "namespace": NS}
    assert testrun["spec"]["parallelism"] == 2
    assert set(seen) == {"0:1/2", "1/2:1"} and result.total.count == sum(seen.values())
    assert fake.objects("TestRun", NS) == [] and fake.errors == []


def _api_client(fake):
    from kubernetes import config as k8s_config

    return k8s_config.new_client_from_config(str(fake.kubeconfig))
