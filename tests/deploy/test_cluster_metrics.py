"""Resources of a release's pods from a real Prometheus (Debian package), its TSDB
backfilled from recorded cAdvisor and kube-state-metrics series
(tests/data/prometheus: a throttled pod, one near its memory limit, one OOM-killed,
pause containers and pod-level rows, a base release, a namesake in another
namespace, a namespace with a quote, backslash and brace)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace

import httpx
import pytest

from plog_ci.ab.cluster_resources import cluster_samples, read_cluster_resources
from plog_ci.analysis.container_findings import throttled_by_second
from plog_ci.analysis.pod_findings import pod_findings
from plog_ci.config.model import MetricsConfig
from plog_ci.deploy.cgroup import summarize
from plog_ci.deploy.cluster_metrics import (
    PodSelector,
    ReleaseResources,
    release_resources,
    resources_or_note,
)
from plog_ci.deploy.helm import HelmSide
from plog_ci.deploy.kube import Pod
from plog_ci.deploy.process import free_port
from plog_ci.deploy.prometheus_api import (
    MetricsError,
    NoSeries,
    Prometheus,
    PrometheusRefused,
    PrometheusUnreachable,
    promql_string,
)
from testing.prometheus import PrometheusServer, bearer_front

DATA = Path(__file__).resolve().parent.parent / "data" / "prometheus"
HEAD = "head-service"
HOSTILE = ['x"} or vector(1) #', "a\\", 'q\\"}', "}", "line\nbreak", "$(id)", "${HOME}", "ü∂"]


def _recording() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prom_recording", DATA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REC = _recording()


@dataclass(frozen=True)
class Settings:
    prometheus: str
    token_env: str | None = None


@dataclass(frozen=True)
class Live:
    url: str
    shift: int

    def window(self) -> tuple[float, float]:
        return REC.T0 + 120 + self.shift, REC.T0 + 420 + self.shift


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), DATA / "release.om", REC.T0)
    server.start()
    try:
        yield Live(server.url, server.shift)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def head(prom: Live) -> ReleaseResources:
    start, end = prom.window()
    return release_resources(Settings(prom.url), PodSelector.release(REC.NS, HEAD), start, end)


def _p95(prom: Live) -> list[tuple[float, float]]:
    return [(s + prom.shift, p95) for s, p95 in REC.p95_by_second()]


def test_the_recording_is_what_the_generator_writes() -> None:
    REC.families.clear()
    REC.release()
    assert (DATA / "release.om").read_text(encoding="utf-8") == REC.render()


def test_only_the_releases_real_containers_are_read(prom: Live, head: ReleaseResources) -> None:
    pods = {"head-service-5d8f7b9c6-thr7x", "head-service-5d8f7b9c6-mem4q"}
    pods.add("head-service-5d8f7b9c6-oom2z")
    assert set(head.samples) == {(pod, "app") for pod in pods}
    # 21 steps of 15 s over [T0 + 120, T0 + 420], each at its step's end
    start, _ = prom.window()
    for samples in head.samples.values():
        assert [s.ts for s in samples] == [start + 15 * i for i in range(21)]
    total = head.total()
    # The pod rows (4000 Mi each) and the pause containers (900 Mi) are not in the sum.
    assert max(s.rss_bytes for s in total) < 800 * REC.MI
    assert head.notes == ()


def test_counters_and_limits_follow_the_recording(prom: Live, head: ReleaseResources) -> None:
    samples = head.samples[("head-service-5d8f7b9c6-thr7x", "app")]
    # A step's sample holds the last scrape before its end: scrape k lands in step k + 1.
    for second, share in throttled_by_second(samples).items():
        k = (second - prom.shift - REC.T0) // 15 - 1
        share_k = 0.1 + 0.6 * REC.load_share(k) if REC.in_load(k) else 0.0
        expected = round(share_k * REC.PERIODS_PER_SCRAPE) / REC.PERIODS_PER_SCRAPE
        assert share == pytest.approx(expected), second
    busy = [s.cpu_percent for s in samples if REC.in_load((s.ts - prom.shift - REC.T0) // 15 - 1)]
    assert busy and all(c == pytest.approx(45.0) for c in busy)
    limits = head.limits[("head-service-5d8f7b9c6-thr7x", "app")]
    assert (limits.cpus, limits.memory_bytes) == (0.5, 512 * REC.MI)
    memory = head.samples[("head-service-5d8f7b9c6-mem4q", "app")]
    # The last scrape in the window is k = 27 (T0 + 407); k = 28 lands at T0 + 422.
    assert max(s.rss_bytes for s in memory) == round((150 + 90 * REC.load_share(27)) * REC.MI)


def test_the_throttled_pod_is_named_and_the_bottleneck(prom: Live, head: ReleaseResources) -> None:
    found = pod_findings(head, _p95(prom))
    throttling = [f for f in found if f.kind == "cpu-throttling"]
    assert [f.data["pod"] for f in throttling] == ["head-service-5d8f7b9c6-thr7x"]
    finding = throttling[0]
    assert finding.message.startswith(
        "pod head-service-5d8f7b9c6-thr7x: CPU throttling is the bottleneck"
    )
    assert "Spearman" in finding.message and "resources.limits.cpu" in finding.message
    assert float(finding.data["rho"]) > 0.9
    # Without the latency following it the same throttling is reported, not the bottleneck.
    flat = [(s, 50.0 + (s % 2)) for s, _ in _p95(prom)]
    again = [f for f in pod_findings(head, flat) if f.kind == "cpu-throttling"]
    assert len(again) == 1 and "bottleneck" not in again[0].message


def test_the_pod_near_its_memory_limit_is_named(prom: Live, head: ReleaseResources) -> None:
    found = [f for f in pod_findings(head, _p95(prom)) if f.kind == "memory-limit"]
    named = {f.data["pod"] for f in found}
    assert "head-service-5d8f7b9c6-mem4q" in named
    assert "head-service-5d8f7b9c6-thr7x" not in named  # 200 of 512 Mi
    mem = next(f for f in found if f.data["pod"] == "head-service-5d8f7b9c6-mem4q")
    assert "92%" in mem.message and "256 MB" in mem.message  # 235.5 of 256 Mi


def test_the_oom_kill_and_restart_are_reported(prom: Live, head: ReleaseResources) -> None:
    key = ("head-service-5d8f7b9c6-oom2z", "app")
    assert head.restarts == {key: 1}
    samples = head.samples[key]
    assert max(s.oom_kills for s in samples) == 1
    assert [s.running for s in samples].count(False) == 1  # gone between kill and restart
    summary = summarize(samples)
    assert summary is not None and summary.oom_kills == 1
    found = [f for f in pod_findings(head, _p95(prom)) if f.kind == "oom-kill"]
    assert len(found) == 1 and found[0].severity == "error"
    assert "head-service-5d8f7b9c6-oom2z" in found[0].message and "256 MB" in found[0].message


def test_the_base_release_and_a_namesake_elsewhere_are_apart(prom: Live) -> None:
    start, end = prom.window()
    base = release_resources(
        Settings(prom.url), PodSelector.release(REC.NS, "base-service"), start, end
    )
    assert set(base.samples) == {("base-service-6c9d8e7f5-bas1q", "app")}
    other = PodSelector.pods("plog-shop-pr-8", ["head-service-5d8f7b9c6-thr7x"])
    elsewhere = release_resources(Settings(prom.url), other, start, end)
    assert max(s.rss_bytes for s in elsewhere.total()) == 500 * REC.MI


def test_hostile_label_values_stay_one_value(prom: Live) -> None:
    start, end = prom.window()
    odd = release_resources(
        Settings(prom.url), PodSelector.release(REC.HOSTILE_NS, HEAD), start, end
    )
    assert set(odd.samples) == {("head-service-5d8f7b9c6-hst1l", "app")}
    assert any("kube-state-metrics" in n for n in odd.notes)
    assert any("throttled_seconds" in n for n in odd.notes)
    with Prometheus(prom.url) as api:
        for value in HOSTILE:
            # absent() answers with the labels of its equality matchers: the value
            # Prometheus parsed from the literal.
            query = f"absent(plog_no_such_metric{{x={promql_string(value)}}})"
            echoed = api.query_range(query, start, start, 15)
            assert [labels["x"] for labels, _ in echoed] == [value]
    for value in HOSTILE:
        for selector in (PodSelector(value, ".*"), PodSelector.release(REC.NS, value)):
            with pytest.raises(NoSeries):
                release_resources(Settings(prom.url), selector, start, end)


def test_no_series_says_which_query_and_what_to_check(prom: Live) -> None:
    start, end = prom.window()
    with pytest.raises(NoSeries) as caught:
        release_resources(Settings(prom.url), PodSelector.release("plog-none", HEAD), start, end)
    assert "container_cpu_usage_seconds_total" in caught.value.query
    assert "/metrics/cadvisor" in str(caught.value) and "plog-none" in str(caught.value)


def test_prometheus_down_is_a_note_naming_the_url_without_credentials() -> None:
    port = free_port()
    settings = Settings(f"http://plog:hunter2-secret@127.0.0.1:{port}/prom?x=1")
    began = time.monotonic()
    with pytest.raises(PrometheusUnreachable) as caught:
        release_resources(settings, PodSelector.release(REC.NS, HEAD), 1.0e9, 1.0e9 + 60)
    assert f"http://127.0.0.1:{port}/prom" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "plog" not in str(caught.value).split("hint")[0]
    got, note = resources_or_note(settings, PodSelector.release(REC.NS, HEAD), 1.0e9, 1.0e9 + 60)
    assert got is None and note is not None and f"127.0.0.1:{port}" in note
    assert "hunter2" not in note
    assert time.monotonic() - began < 10
    assert resources_or_note(None, PodSelector.release(REC.NS, HEAD), 0, 1) == (None, None)
    empty = resources_or_note(settings, PodSelector.release(REC.NS, HEAD), 1.0e9, 1.0e9)
    assert empty[0] is None and "window" in str(empty[1])


def test_a_wrong_token_is_a_401_and_never_shown(
    prom: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = prom.window()
    selector = PodSelector.release(REC.NS, HEAD)
    with bearer_front(prom.url, "right-token-0123") as front:
        monkeypatch.setenv("PLOG_TEST_PROM_TOKEN", "wrong-token-4567")
        with pytest.raises(PrometheusRefused) as caught:
            release_resources(Settings(front, "PLOG_TEST_PROM_TOKEN"), selector, start, end)
        assert caught.value.status == 401
        assert "wrong-token" not in str(caught.value) and "metrics.token_env" in str(caught.value)
        monkeypatch.setenv("PLOG_TEST_PROM_TOKEN", "right-token-0123")
        right = release_resources(Settings(front, "PLOG_TEST_PROM_TOKEN"), selector, start, end)
        assert len(right.samples) == 3
        monkeypatch.delenv("PLOG_TEST_PROM_TOKEN")
        with pytest.raises(MetricsError, match=r"\$PLOG_TEST_PROM_TOKEN is not set"):
            release_resources(Settings(front, "PLOG_TEST_PROM_TOKEN"), selector, start, end)


def test_a_bad_query_or_path_is_refused_with_prometheus_words(prom: Live) -> None:
    with Prometheus(prom.url) as api, pytest.raises(PrometheusRefused) as caught:
        api.query_range("sum(", 1.0e9, 1.0e9 + 60, 15)
    assert caught.value.status == 400 and "parse error" in str(caught.value)
    with Prometheus(prom.url + "/not-here") as api, pytest.raises(PrometheusRefused) as missing:
        api.query_range("vector(1)", 1.0e9, 1.0e9 + 60, 15)
    assert missing.value.status == 404


def test_an_answer_that_is_not_prometheus_is_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "matrix", "result": [7]}}
        )

    with Prometheus("http://prom.test", transport=httpx.MockTransport(answer)) as api:
        with pytest.raises(PrometheusRefused, match="malformed"):
            api.query_range("vector(1)", 0, 60, 15)


class _Pods:
    """The Kubernetes API's answer for a release's pods (kube.Cluster.release_pods)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def release_pods(self, namespace: str, release: str) -> list[Pod]:
        assert namespace == REC.NS
        return [Pod(name, "Running", ()) for name in self.names]


def _side(names: list[str]) -> HelmSide:
    release = SimpleNamespace(cluster=_Pods(names), namespace=REC.NS, name="head")
    return HelmSide(release, "http://head-service:8080", "/health", 30.0, None)  # type: ignore[arg-type]


def test_after_the_load_the_heads_pods_are_read_from_prometheus(prom: Live) -> None:
    start, end = prom.window()
    pods = ["head-service-5d8f7b9c6-thr7x", "head-service-5d8f7b9c6-mem4q"]
    waited: list[float] = []
    metrics = MetricsConfig(prometheus=prom.url)
    got = read_cluster_resources(
        metrics, {"head": _side(pods)}, start, end, settle_s=15.0, sleep=waited.append
    )
    assert got is not None and got.head is not None and got.notes == ()
    assert waited == [15.0]  # the load's last seconds reach Prometheus with the next scrape
    assert set(got.head.samples) == {(pod, "app") for pod in pods}
    stored = cluster_samples(got, "head", [])
    assert stored == got.head.total() and len(stored) == 21
    kinds = [f.kind for f in pod_findings(got.head, _p95(prom))]
    assert sorted(kinds) == ["cpu-throttling", "memory-limit"]
    # Nothing to read: no metrics section, or a process side.
    assert read_cluster_resources(None, {"head": _side(pods)}, start, end) is None


def test_a_release_without_pods_or_prometheus_leaves_notes_not_errors(prom: Live) -> None:
    start, end = prom.window()
    none = read_cluster_resources(
        MetricsConfig(prometheus=prom.url), {"head": _side([])}, start, end, sleep=lambda s: None
    )
    assert none is not None and none.head is None
    assert none.notes == ("head: release head had no pods to read resources of",)
    down = f"http://127.0.0.1:{free_port()}"
    gone = read_cluster_resources(
        MetricsConfig(prometheus=down),
        {"head": _side(["head-service-5d8f7b9c6-thr7x"])},
        start,
        end,
        sleep=lambda s: None,
    )
    assert gone is not None and gone.head is None and len(gone.notes) == 1
    assert gone.notes[0].startswith("head: resources from Prometheus:") and down in gone.notes[0]
    assert cluster_samples(gone, "head", []) == []
