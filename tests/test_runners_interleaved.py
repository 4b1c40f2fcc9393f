"""load.runners for side-by-side comparisons (issue 21): the interleaved schedule and
the duet as N execution segments (local k6 processes, or a TestRun in the fake
cluster) pushing to one capture, read per side and round, merged exactly; stopping
early (adaptive) stops every runner."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from plog_ci.ab.duet import run_duet
from plog_ci.ab.interleaved import RoundStats, run_scheduled
from plog_ci.ab.runners import Runners, cluster_hosts, runners_for
from plog_ci.config.model import LoadConfig
from plog_ci.config.parse import parse_config
from plog_ci.deploy.helm import HelmRelease, HelmSide
from plog_ci.deploy.kube import Cluster
from plog_ci.loadgen.script import Schedule, Script, generate
from testing.k6_tools import need_k6
from testing.paths import ROOT
from testing.specs import load_any_spec
from tests.runner.test_merged_gates import segment_server
from tests.runner.test_testrun import NS, cluster  # noqa: F401 - the fixture

# Latencies of real load decide these tests: alone among load tests (tests/conftest.py).
pytestmark = pytest.mark.timing

SPEC = ROOT / "examples/petstore/openapi.yaml"
HALVES = {"0:1/2", "1/2:1"}


def _ok(segment: str, n: int) -> tuple[int, float]:
    return 200, 0.0


def _scheduled(rate: int, rounds: int, hosts: tuple[str, ...] = ()) -> Script:
    spec = load_any_spec(SPEC)
    slots = tuple(
        side for i in range(rounds) for side in (("head", "base"), ("base", "head"))[i % 2]
    )
    load = LoadConfig(rate=rate, duration_s=2.0 * rounds, vus=4)
    return generate(
        spec,
        [spec.operations["GET /pets"]],
        load,
        schedule=Schedule(slots, on_base=("GET /pets",)),
        allow_hosts=hosts,
    )


def _k6_alive(workdir: Path) -> list[int]:
    """k6 processes still running a script under ``workdir``."""
    out = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if argv[:2][-1:] == ["run"] and any(str(workdir) in a for a in argv):
            out.append(process.pid)
    return out


@pytest.mark.slow
def test_two_local_runners_load_both_sides_in_turns(tmp_path: Path) -> None:
    need_k6()
    script = _scheduled(rate=20, rounds=2)
    with segment_server(_ok) as (base_url, base), segment_server(_ok) as (head_url, head):
        urls = {"base": base_url, "head": head_url}
        runners = Runners(script, urls, tmp_path / "k6", 60.0, count=2)
        result = run_scheduled(script, urls, tmp_path / "k6", timeout_s=60, runners=runners)
    # Each side was loaded by both segment processes, and nothing else.
    assert set(base) == HALVES and set(head) == HALVES, (base, head)
    assert len(result.order) == 2
    for side, seen in (("base", base), ("head", head)):
        counts = [b.operations["GET /pets"].count for b in result.blocks[side]]
        # 20/s for each 1-second block of this side, split between the two runners.
        assert len(counts) == 2 and all(16 <= n <= 24 for n in counts), (side, counts)
        assert sum(seen.values()) == sum(b.total.count for b in result.blocks[side])
    assert [r.segment for r in result.runners] == ["0:1/2", "1/2:1"]
    assert sum(r.requests for r in result.runners) == sum(base.values()) + sum(head.values())
    assert all(r.requests > 0 for r in result.runners)


@pytest.mark.slow
def test_a_duet_with_two_runners_pairs_every_runners_seconds(tmp_path: Path) -> None:
    need_k6()
    spec = load_any_spec(SPEC)
    load = LoadConfig(rate=20, duration_s=4, vus=4)
    script = generate(spec, [spec.operations["GET /pets"]], load, duet_base=("GET /pets",))
    with segment_server(_ok) as (base_url, base), segment_server(_ok) as (head_url, head):
        urls = {"base": base_url, "head": head_url}
        runners = Runners(script, urls, tmp_path / "k6", 60.0, count=2)
        result = run_duet(script, urls, tmp_path / "k6", rounds=2, timeout_s=60, runners=runners)
    assert set(base) == HALVES and set(head) == HALVES, (base, head)
    for side, seen in (("base", base), ("head", head)):
        run = result.runs[side]
        assert run.total.count == sum(seen.values()) and 70 <= run.total.count <= 90
        blocks = result.blocks[side]
        # The blocks pool to the whole side, both runners' requests (not runner 0's).
        assert len(blocks) == 2 and sum(b.total.count for b in blocks) == run.total.count
        assert 3.0 <= sum(b.duration_s for b in blocks) <= 6.0, [b.duration_s for b in blocks]
    assert len(result.runners) == 2 and all(r.requests > 0 for r in result.runners)


@pytest.mark.slow
def test_stopping_after_a_round_stops_every_runner(tmp_path: Path) -> None:
    need_k6()
    script = _scheduled(rate=20, rounds=8)  # 16 s planned
    looks: list[int] = []

    def on_round(stats: RoundStats) -> bool:
        looks.append(len(stats["head"]))
        return True

    started = time.monotonic()
    with segment_server(_ok) as (base_url, base), segment_server(_ok) as (head_url, head):
        urls = {"base": base_url, "head": head_url}
        runners = Runners(script, urls, tmp_path / "k6", 60.0, count=2)
        result = run_scheduled(
            script, urls, tmp_path / "k6", timeout_s=60, on_round=on_round, runners=runners
        )
        took = time.monotonic() - started
        alive = _k6_alive(tmp_path)
        sent = sum(base.values()) + sum(head.values())
    assert looks == [1] and len(result.order) == 1 and took < 10, (looks, took)
    assert alive == [] and sent < 16 * 20 / 2
    # The completed round counts both runners' requests on both sides.
    assert all(result.blocks[s][0].total.count >= 16 for s in ("base", "head")), result.blocks
    assert all(b.aborted is None for s in ("base", "head") for b in result.blocks[s])


YAML = """
version: 1
service: {run: "python app.py --port {port}"}
openapi: openapi.yaml
load: {rate: 20, duration: 4s, vus: 4, runners: 2, operations: all}
gates: ["p95 < 300ms"]
"""


@pytest.mark.slow
def test_in_cluster_interleaved_is_one_testrun_with_both_sides_urls(
    cluster: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    fake, _, operator = cluster
    config = parse_config(YAML)
    config = replace(config, deploy=replace(config.deploy, target="helm"))
    from kubernetes import config as k8s_config

    api_client = k8s_config.new_client_from_config(str(fake.kubeconfig))
    core = Cluster(api_client, fake.url)

    def release_side(name: str, url: str) -> HelmSide:
        release = HelmRelease(None, core, NS, name, tmp_path, {}, 60.0)  # type: ignore[arg-type]
        return HelmSide(release, url, "/health", 10.0, None)

    with segment_server(_ok) as (base_url, base), segment_server(_ok) as (head_url, head):
        head_side = release_side("head", head_url)
        base_side = release_side("base", base_url)
        script = _scheduled(rate=20, rounds=2, hosts=cluster_hosts(config, head_side, base_side))
        urls = {"base": base_url, "head": head_url}
        runners = runners_for(
            config,
            script,
            urls,
            head_side,
            tmp_path / "k6",
            run_id=9,
            timeout_s=60,
            extra_env={},
            secrets=(),
        )
        result = run_scheduled(script, urls, tmp_path / "k6", timeout_s=60, runners=runners)
    (testrun,) = operator.seen
    assert testrun["metadata"]["name"] == "plog-load-9" and testrun["spec"]["parallelism"] == 2
    env = {e["name"]: e.get("value") for e in testrun["spec"]["runner"]["env"]}
    assert env["PLOG_URL_BASE"] == base_url and env["PLOG_URL_HEAD"] == head_url
    assert set(base) == HALVES and set(head) == HALVES, (base, head)
    for side, seen in (("base", base), ("head", head)):
        blocks = result.blocks[side]
        assert len(blocks) == 2 and all(b.total.count > 10 for b in blocks), blocks
        assert sum(seen.values()) == sum(b.total.count for b in blocks)
    assert [r.runner for r in result.runners] == ["1", "2"]
    assert fake.objects("TestRun", NS) == [] and fake.errors == []
    api_client.close()
