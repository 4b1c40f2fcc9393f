"""The helm target: values as Helm merges them, the URL template, and (against the
fake cluster) releases, failed rollouts and teardown."""

from __future__ import annotations

import _thread
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes.client import AppsV1Api

from plog_ci import yamldoc
from plog_ci.build.harbor_scan import ImageFacts
from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.config.parse import parse_config
from plog_ci.deploy import helm_values, namespaces
from plog_ci.deploy.helm import HelmSide, start_helm_side
from plog_ci.deploy.kube import Access, Cluster, connect
from plog_ci.deploy.rollout import rollout_report
from plog_ci.deploy.target import Where, sampler_for, start_side
from plog_ci.errors import ConfigError, ServiceError
from plog_ci.redaction import register_secret
from testing.container_tools import base_image, containers, registry
from testing.fake_kube import FakeCluster, Rollout
from testing.paths import EXAMPLE

DIGEST = "sha256:" + "ab" * 32


def _values(tree: Path, helm: HelmConfig) -> dict[str, object]:
    return helm_values.release_values(
        helm, tree, image_repository="reg.example/team/svc", image_digest=DIGEST,
        health="/healthz", container_port=9000,
    )  # fmt: skip


def test_values_merge_in_helms_order(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (tmp_path / "one.yaml").write_text("a: {b: 1, c: 1}\nlist: [1, 2]\nimage: {tag: x}\n")
    (tmp_path / "two.yaml").write_text("a: {c: 2, d: 2}\nlist: [3]\n")
    helm = HelmConfig(
        chart="chart",
        values_files=("one.yaml", "two.yaml"),
        values=json.dumps({"a": {"d": 3, "e": 3}}),
        set=(("a.e", "4"), ("image.repository", "overridden-by-the-build")),
    )
    values = _values(tmp_path, helm)
    assert values == {
        "a": {"b": 1, "c": 2, "d": 3, "e": 4},
        "list": [3],  # a list is replaced, as Helm does
        "image": {"tag": "x", "repository": "reg.example/team/svc", "digest": DIGEST},
    }
    assert helm_values.chart_path(helm, tmp_path) == (tmp_path / "chart").resolve()


def test_plogs_chart_gets_probe_and_ports_and_set_still_wins(tmp_path: Path) -> None:
    helm = HelmConfig(port=8081, set=(("containerPort", "7000"),))
    values = _values(tmp_path, helm)
    assert values["probes"] == {"path": "/healthz"}
    assert values["containerPort"] == 7000
    assert values["service"] == {"port": 8081}
    assert helm_values.chart_path(helm, tmp_path).name == "service"


def test_image_values_go_where_the_config_says(tmp_path: Path) -> None:
    helm = HelmConfig(image_values=("app.img.repo", "app.img.sha"))
    values = _values(tmp_path, helm)
    assert values["app"] == {"img": {"repo": "reg.example/team/svc", "sha": DIGEST}}


@pytest.mark.parametrize(
    "value", ["$(id)", "${HOME}", "<script>x</script>", "--upload-pack=x", "a\\,b=c", "'q\""]
)
def test_hostile_set_values_stay_one_value(tmp_path: Path, value: str) -> None:
    values = _values(tmp_path, HelmConfig(chart=None, set=(("env.X", value),)))
    leaf = values["env"]
    assert isinstance(leaf, dict) and list(leaf) == ["X"]
    assert leaf["X"] == value.replace("\\,", ",")


def test_a_comma_that_would_set_another_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.set\[0\].*more than this key"):
        _values(tmp_path, HelmConfig(set=(("env.X", "a,evil.key=1"),)))


def test_values_files_stay_inside_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("secret: 1\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(outside, tree / "link.yaml")
    with pytest.raises(ConfigError, match=r"values_files\[0\].*outside"):
        _values(tree, HelmConfig(values_files=("link.yaml",)))
    (tree / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="not a map"):
        _values(tree, HelmConfig(values_files=("list.yaml",)))
    (tree / "bomb.yaml").write_text('a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ))  # fmt: skip
    with pytest.raises(yamldoc.YamlError, match=r"bomb\.yaml"):
        _values(tree, HelmConfig(values_files=("bomb.yaml",)))


def test_a_chart_outside_the_tree_or_without_chart_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.chart"):
        helm_values.chart_path(HelmConfig(chart="nochart"), tmp_path)
    os.symlink("/etc", tmp_path / "etc")
    with pytest.raises(ConfigError, match="outside"):
        helm_values.chart_path(HelmConfig(chart="etc"), tmp_path)


KNOWN = {"service": "head-svc", "namespace": "plog-x-pr-1", "port": 8080, "node_port": 30080,
         "release": "head"}  # fmt: skip


def test_url_template_fills_known_fields() -> None:
    url = helm_values.fill(HelmConfig().url, "deploy.helm.url", KNOWN)
    assert url == "http://head-svc.plog-x-pr-1.svc.cluster.local:8080"
    nodeport = helm_values.fill("http://127.0.0.1:{node_port}/{{x}}", "deploy.helm.url", KNOWN)
    assert nodeport == "http://127.0.0.1:30080/{x}"


@pytest.mark.parametrize(
    "template",
    [
        "http://{__class__}/",
        "http://{0}/",
        "http://{}/",
        "http://{service.__class__.__mro__}/",
        "http://{service[0]}/",
        "http://{port!r}/",
        "http://{port:>99999}/",
        "http://{service:{port}}/",
        "http://{nope}/",
        "http://{service/",
        "http://service}/",
    ],
)
def test_url_template_refuses_anything_but_known_names(template: str) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.url"):
        helm_values.fill(template, "deploy.helm.url", KNOWN)


def test_a_field_known_but_missing_here_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.service: \{namespace\} is not known"):
        helm_values.fill("{release}-{namespace}", "deploy.helm.service", {"release": "head"})


# --- against the fake cluster ---------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeCluster]:
    with FakeCluster(tmp_path / "kube", namespace_delete_delay=0.2) as cluster:
        yield cluster
        assert cluster.errors == []


@pytest.fixture
def api(fake: FakeCluster) -> Iterator[Cluster]:
    with connect(Access(str(fake.kubeconfig), None)) as cluster:
        yield cluster


def _deployment(api: Cluster, namespace: str, release: str) -> None:
    """What a chart's install makes: a Deployment labelled with the release."""
    labels = {"app.kubernetes.io/instance": release, "app.kubernetes.io/name": "svc"}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{release}-svc", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": f"reg.example/x@{DIGEST}"}]},
            },
        },
    }
    AppsV1Api(api.api_client).create_namespaced_deployment(namespace, body)


def test_image_pull_backoff_is_reported_with_its_events(api: Cluster, fake: FakeCluster) -> None:
    assert api.create_namespace("plog-t", {}, {})
    fake.set_rollout(Rollout("image_pull"))
    _deployment(api, "plog-t", "head")
    fake.settle()
    report = rollout_report(api, "plog-t", "head")
    assert re.search(r"pod head-svc-\S+ \(Pending\)", report)
    assert "container app: not ready; waiting: ImagePullBackOff" in report
    assert "Warning events (last 3):" in report
    assert "Failed: Failed to pull image" in report and "Failed: Error: ErrImagePull" in report
    assert "app: no log lines (the container has not run)" in report


def test_crash_loop_is_reported_with_its_last_log_lines(api: Cluster, fake: FakeCluster) -> None:
    secret = "hunter2-" + "s" * 12
    register_secret(secret)
    lines = [f"line {i}" for i in range(30)] + [f"fatal: cannot connect with {secret}"]
    fake.set_rollout(Rollout("crash_loop", logs=tuple(lines), exit_code=3, restarts=5))
    assert api.create_namespace("plog-t", {}, {})
    _deployment(api, "plog-t", "base")
    _deployment(api, "plog-t", "head")  # another release's pods are not reported
    fake.settle()
    report = rollout_report(api, "plog-t", "base")
    assert "head-svc" not in report
    assert "waiting: CrashLoopBackOff" in report
    assert "last ended: Error, exit code 3; 5 restart(s)" in report
    assert "last 20 log lines of app (its previous run):" in report
    shown = [line.strip() for line in report.splitlines() if line.strip().startswith("line ")]
    assert shown == [f"line {i}" for i in range(11, 30)]
    assert "fatal: cannot connect with ***" in report and secret not in report
    logs = [r for r in fake.requests if r.path.endswith("/log")]
    # The previous run's (Go's ParseBool reads the client's "True")
    assert logs and all(r.query.get("previous") in ("true", "True") for r in logs)
    assert all(r.query.get("tailLines") == "20" for r in logs)


def test_a_release_without_pods_says_so(api: Cluster) -> None:
    assert api.create_namespace("plog-t", {}, {})
    assert rollout_report(api, "plog-t", "head") == (
        "release head has no pods in namespace plog-t (yet)"
    )


# --- releases with the Helm SDK, against the fake cluster ------------------------------

HEALTH = "/healthz"
SHA = "feedc0de" * 5


class _Services:
    """A real HTTP server standing in for the releases' pods: ``/<ns>/<release>/healthz``
    answers 200 once the fake cluster calls the Deployment ready (``on_ready``), 503
    before; the URL template sends each release there."""

    def __init__(self) -> None:
        self.ready: set[str] = set()
        ready = self.ready

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = 200 if self.path.removesuffix(HEALTH) in ready else 503
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on_ready(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        self.ready.add(f"/{meta['namespace']}/{meta['labels']['app.kubernetes.io/instance']}")


@pytest.fixture
def services(fake: FakeCluster) -> Iterator[_Services]:
    made = _Services()
    fake.on_ready(made.on_ready)
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture
def kube_env(fake: FakeCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KUBERNETES_SERVICE_HOST", "PLOG_KUBE_CONTEXT", "PLOG_KUBE_JOB_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig))


def _helm(port: int, **kw: Any) -> HelmConfig:
    kw.setdefault("timeout_s", 20)
    return HelmConfig(port=port, url="http://127.0.0.1:{port}/{namespace}/{release}", **kw)


def _where(tmp_path: Path, run_id: int, side: str, pr: int | None = 7) -> Where:
    return Where(SHA, side, run_id, tmp_path / "home", tmp_path, "/srv/git/Pet.Store.git", pr)


def _start(
    helm: HelmConfig, tmp_path: Path, stack: ExitStack, run_id: int, side: str, **kw: Any
) -> HelmSide:
    service = ServiceConfig(run="unused", health=HEALTH, startup_timeout_s=10)
    return start_helm_side(
        helm, service, tmp_path, _where(tmp_path, run_id, side, **kw), stack,
        image_repository="reg.example/team/pet", image_digest=DIGEST,
    )  # fmt: skip


def _plog_namespaces(api: Cluster, *, wait_s: float = 3.0) -> list[str]:
    """PLog's namespaces once deletions in progress are done (the fake's delay)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = api.namespaces(namespaces.SELECTOR)
        if not any(n.phase == "Terminating" for n in found) or time.monotonic() > deadline:
            return sorted(n.name for n in found)
        time.sleep(0.05)


@pytest.mark.usefixtures("kube_env")
def test_head_and_base_in_one_namespace(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path
) -> None:
    helm = _helm(services.port)
    with ExitStack() as stack:
        head = _start(helm, tmp_path, stack, 1, "head")
        base = _start(helm, tmp_path, stack, 1, "base")
        namespace = "plog-pet-store-pr-7"
        assert head.base_url == f"http://127.0.0.1:{services.port}/{namespace}/head"
        assert base.base_url == f"http://127.0.0.1:{services.port}/{namespace}/base"
        assert head.wait_healthy() >= 0 and base.wait_healthy() >= 0
        with head.sampler() as sampler:
            assert sampler.stop() == []
        stored = fake.get("Namespace", "", namespace)
        assert stored is not None
        labels = stored["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "plog"
        assert labels["plog.dev/job"] == "1" and labels["plog.dev/pr"] == "7"
        assert int(labels["plog.dev/expires-unix"]) > time.time() + helm.ttl_s - 60
        deployments = fake.objects("Deployment", namespace)
        assert sorted(d["metadata"]["name"] for d in deployments) == [
            "base-service",
            "head-service",
        ]
        container = deployments[0]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == f"reg.example/team/pet@{DIGEST}"
        assert container["readinessProbe"]["httpGet"]["path"] == HEALTH
        # One namespace for the job: created once.
        creates = [
            r for r in fake.requests if r.method == "POST" and r.path == "/api/v1/namespaces"
        ]
        assert len(creates) == 1
    assert _plog_namespaces(api) == []
    assert fake.objects("Deployment", namespace) == []


@pytest.mark.usefixtures("kube_env")
@pytest.mark.parametrize(
    ("rollout", "expect"),
    [
        (
            Rollout("image_pull"),
            ["waiting: ImagePullBackOff", "Failed: Failed to pull image", "has not run"],
        ),
        (
            Rollout("crash_loop", logs=("starting", "panic: no DATABASE_URL"), exit_code=2),
            ["waiting: CrashLoopBackOff", "exit code 2", "BackOff", "panic: no DATABASE_URL"],
        ),
    ],
)
def test_a_failed_rollout_says_why_and_leaves_nothing(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path,
    rollout: Rollout, expect: list[str],
) -> None:  # fmt: skip
    fake.set_rollout(rollout)
    started = time.monotonic()
    with pytest.raises(ServiceError) as info, ExitStack() as stack:
        _start(_helm(services.port, timeout_s=3), tmp_path, stack, 2, "head")
    text = str(info.value)
    assert text.startswith("release head in namespace plog-pet-store-pr-7 did not roll out")
    for part in expect:
        assert part in text, text
    assert time.monotonic() - started < 30
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_teardown_after_an_exception_and_after_ctrl_c(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path
) -> None:
    helm = _helm(services.port)
    with pytest.raises(RuntimeError), ExitStack() as stack:
        _start(helm, tmp_path, stack, 3, "head")
        assert _plog_namespaces(api) == ["plog-pet-store-pr-7"]
        raise RuntimeError("the load failed")
    assert _plog_namespaces(api) == []
    with pytest.raises(KeyboardInterrupt), ExitStack() as stack:
        _start(helm, tmp_path, stack, 4, "head")
        _start(helm, tmp_path, stack, 4, "base")
        raise KeyboardInterrupt
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_ctrl_c_during_the_rollout_wait_cancels_it(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path
) -> None:
    fake.set_rollout(Rollout("never_ready"))
    threading.Timer(2.0, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), ExitStack() as stack:
        _start(_helm(services.port, timeout_s=60), tmp_path, stack, 5, "head")
    assert time.monotonic() - started < 30  # not the 60 s of the wait
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_a_hostile_url_template_creates_nothing(api: Cluster, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.url"), ExitStack() as stack:
        _start(HelmConfig(url="http://{service.__class__}/"), tmp_path, stack, 6, "head")
    assert api.namespaces(namespaces.SELECTOR) == []


_KILLED_JOB = """
import os, signal, sys
from contextlib import ExitStack
from pathlib import Path
from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy.helm import start_helm_side
from plog_ci.deploy.target import Where

run_id, pr, port, tree = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
helm = HelmConfig(port=port, timeout_s=20, url="http://127.0.0.1:{port}/{namespace}/{release}")
where = Where(sys.argv[5], "head", run_id, tree / "home", tree, "/srv/git/Pet.Store.git",
              int(pr) if pr else None)
stack = ExitStack()
start_helm_side(helm, ServiceConfig(run="x", health="/healthz"), tree, where, stack,
                image_repository="reg.example/team/pet", image_digest=sys.argv[6])
print("installed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the worker dies: no teardown runs
"""


@pytest.mark.slow
@pytest.mark.usefixtures("kube_env")
def test_twenty_jobs_with_failures_and_kills_leave_no_plog_namespace(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path
) -> None:
    """The teardown bar: 20 jobs (successes, failed installs, errors and Ctrl-C
    mid-run, killed workers); after the reaper's pass past the expiry, the cluster
    holds no PLog namespace, and nothing else was removed."""
    assert api.create_namespace("team-prod", {"app.kubernetes.io/managed-by": "helm",
                                              namespaces.EXPIRES_LABEL: "1"}, {})  # fmt: skip
    helm = _helm(services.port, timeout_s=3)
    killed: list[str] = []
    outcomes: dict[str, int] = {}
    for job in range(1, 21):
        kind = ("killed", "install fails", "raises", "ctrl-c", "passes")[job % 5]
        outcomes[kind] = outcomes.get(kind, 0) + 1
        pr = job if job % 2 else None
        fake.set_rollout(Rollout("image_pull" if kind == "install fails" else "ready"))
        sha = f"{job:02d}" * 20
        if kind == "killed":
            done = subprocess.run(
                [sys.executable, "-c", _KILLED_JOB, str(job), str(pr or ""),
                 str(services.port), str(tmp_path), sha, DIGEST],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == -signal.SIGKILL and "installed" in done.stdout, done.stderr
            killed.append(namespaces.namespace_name("Pet.Store", pr, sha))
            continue
        where = {"pr": pr}
        try:
            with ExitStack() as stack:
                for side in ("head", "base"):
                    side_where = replace(_where(tmp_path, job, side, **where), commit=sha)
                    service = ServiceConfig(run="x", health=HEALTH, startup_timeout_s=10)
                    started = start_helm_side(
                        helm, service, tmp_path, side_where, stack,
                        image_repository="reg.example/team/pet", image_digest=DIGEST,
                    )  # fmt: skip
                    started.wait_healthy()
                if kind == "raises":
                    raise RuntimeError("the load failed mid-run")
                if kind == "ctrl-c":
                    raise KeyboardInterrupt
        except (ServiceError, RuntimeError, KeyboardInterrupt) as exc:
            expected = {"install fails": ServiceError, "raises": RuntimeError,
                        "ctrl-c": KeyboardInterrupt}[kind]  # fmt: skip
            assert type(exc) is expected
        else:
            assert kind == "passes"
    assert outcomes == {"killed": 4, "install fails": 4, "raises": 4, "ctrl-c": 4, "passes": 4}
    # What killed workers left is there, labelled, and not yet expired.
    assert _plog_namespaces(api) == sorted(killed)
    assert namespaces.reap_namespaces(api, time.time()) == []
    # Past the expiry, the reaper removes exactly those.
    later = time.time() + HelmConfig().ttl_s + 1
    assert namespaces.reap_namespaces(api, later) == sorted(killed)
    assert _plog_namespaces(api) == []
    left = {ns["metadata"]["name"] for ns in fake.objects("Namespace")}
    assert "team-prod" in left and "default" in left and "kube-system" in left
    assert fake.errors == []


@pytest.mark.slow
@pytest.mark.usefixtures("kube_env")
def test_start_side_builds_pushes_and_installs_by_digest(
    api: Cluster,
    fake: FakeCluster,
    services: _Services,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """target.start_side with deploy.target helm: the tree's image built and pushed as
    for podman (a real registry), and the release runs exactly the pushed digest."""
    tools = containers()
    base = base_image(tools)
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("app.py", "openapi.yaml", "Containerfile"):
        (tree / name).write_text((EXAMPLE / name).read_text(encoding="utf-8"), encoding="utf-8")
    with registry(tmp_path / "registry", tls=False) as reg:
        monkeypatch.setenv("PLOG_TEST_REGISTRY_PASSWORD", reg.password)
        config = parse_config(
            "version: 1\nservice: {run: python app.py, health: /healthz}\n"
            "openapi: openapi.yaml\n"
            "deploy:\n  target: helm\n"
            f"  build: {{args: {{BASE: '{base}'}}}}\n"
            f"  registry: {{url: 'http://{reg.host}', repository: team/pet, "
            f"username: {reg.username}, password_env: PLOG_TEST_REGISTRY_PASSWORD}}\n"
            f"  helm: {{port: {services.port}, timeout: 20s, "
            "url: 'http://127.0.0.1:{port}/{namespace}/{release}'}\n"
        )
        images: list[ImageFacts] = []
        with ExitStack() as stack:
            side = start_side(
                config, config.service, tree, _where(tmp_path, 30, "head"), stack,
                on_image=images.append,
            )  # fmt: skip
            assert isinstance(side, HelmSide)
            side.wait_healthy()
            [image] = images
            assert image.reference == f"{reg.host}/team/pet@{image.digest}"
            [deployment] = fake.objects("Deployment", "plog-pet-store-pr-7")
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            assert container["image"] == image.reference
            # The registry holds that very manifest.
            got = httpx.head(
                f"http://{reg.host}/v2/team/pet/manifests/{image.digest}",
                auth=(reg.username, reg.password),
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                         "application/vnd.docker.distribution.manifest.v2+json"},
                timeout=10,
            )  # fmt: skip
            assert got.status_code == 200
            assert sampler_for(side, stack).stop() == []
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_node_port_is_read_from_the_service(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path
) -> None:
    url = "http://127.0.0.1:{port}/{namespace}/{release}?via={node_port}"
    node_port = HelmConfig(
        port=services.port, timeout_s=20, url=url,
        set=(("service.type", "NodePort"), ("service.nodePort", "30080")),
    )  # fmt: skip
    with ExitStack() as stack:
        side = _start(node_port, tmp_path, stack, 40, "head")
        assert side.node_port == 30080 and side.base_url.endswith("?via=30080")
    with pytest.raises(ServiceError, match=r"uses \{node_port\}.*type ClusterIP"):
        with ExitStack() as stack:
            _start(replace(node_port, set=()), tmp_path, stack, 41, "head")
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_the_job_role_is_bound_in_the_namespace(
    api: Cluster, fake: FakeCluster, services: _Services, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PLOG_KUBE_JOB_ROLE", "plog-job")
    monkeypatch.setenv("PLOG_KUBE_SERVICE_ACCOUNT", "plog-worker")
    monkeypatch.setenv("PLOG_KUBE_SERVICE_ACCOUNT_NAMESPACE", "plog")
    with ExitStack() as stack:
        _start(_helm(services.port), tmp_path, stack, 50, "head")
        [binding] = fake.objects("RoleBinding", "plog-pet-store-pr-7")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "plog-job",
        }  # fmt: skip
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "plog-worker", "namespace": "plog"}
        ]
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_no_health_answer_is_a_service_error_with_the_pods(
    api: Cluster, services: _Services, tmp_path: Path
) -> None:
    helm = HelmConfig(port=services.port, timeout_s=20, url="http://127.0.0.1:{port}/nope")
    service = ServiceConfig(run="unused", health=HEALTH, startup_timeout_s=1)
    with ExitStack() as stack:
        side = start_helm_side(
            helm, service, tmp_path, _where(tmp_path, 60, "head"), stack,
            image_repository="reg.example/team/pet", image_digest=DIGEST,
        )  # fmt: skip
        with pytest.raises(ServiceError) as info:
            side.wait_healthy()
    text = str(info.value)
    assert f"did not answer http://127.0.0.1:{services.port}/nope{HEALTH}" in text
    assert "HTTP 503" in text and "container service: ready" in text
    assert _plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_values_the_chart_refuses_are_said_so_and_leave_nothing(
    api: Cluster, services: _Services, tmp_path: Path
) -> None:
    helm = _helm(services.port, set=(("replicaCount", "$(id)"),))
    with pytest.raises(ConfigError) as info, ExitStack() as stack:
        _start(helm, tmp_path, stack, 70, "head")
    text = str(info.value)
    assert "deploy.helm: the chart service refuses these values" in text
    assert "replicaCount" in text and "values.schema.json" in text
    assert api.namespaces(namespaces.SELECTOR) == []  # none was ever created
