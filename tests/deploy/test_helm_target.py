"""The helm target: values as Helm merges them, the URL template, a failed rollout's
report, and (against the fake cluster, with the real Helm SDK) releases head and base."""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes.client import AppsV1Api

from plog_ci import yamldoc
from plog_ci.config.helm import HelmConfig
from plog_ci.config.model import ServiceConfig
from plog_ci.deploy import helm_values, namespaces
from plog_ci.deploy.helm import start_helm_side
from plog_ci.deploy.kube import Cluster
from plog_ci.deploy.rollout import rollout_report
from plog_ci.errors import ConfigError, ServiceError
from plog_ci.redaction import register_secret
from testing.fake_kube import FakeCluster, Rollout
from tests.deploy.helm_jobs import (  # noqa: F401 - fixtures, used by their names
    DIGEST,
    HEALTH,
    NAMESPACE,
    Services,
    api_fixture,
    fake_fixture,
    helm_config,
    kube_env_fixture,
    plog_namespaces,
    services_fixture,
    start,
    where,
)


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


@pytest.mark.usefixtures("kube_env")
def test_head_and_base_in_one_namespace(
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    helm = helm_config(services.port)
    with ExitStack() as stack:
        head = start(helm, tmp_path, stack, 1, "head")
        base = start(helm, tmp_path, stack, 1, "base")
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
    assert plog_namespaces(api) == []
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
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path,
    rollout: Rollout, expect: list[str],
) -> None:  # fmt: skip
    fake.set_rollout(rollout)
    started = time.monotonic()
    with pytest.raises(ServiceError) as info, ExitStack() as stack:
        start(helm_config(services.port, timeout_s=3), tmp_path, stack, 2, "head")
    text = str(info.value)
    assert text.startswith("release head in namespace plog-pet-store-pr-7 did not roll out")
    for part in expect:
        assert part in text, text
    assert time.monotonic() - started < 30
    assert plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_a_hostile_url_template_creates_nothing(api: Cluster, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deploy\.helm\.url"), ExitStack() as stack:
        start(HelmConfig(url="http://{service.__class__}/"), tmp_path, stack, 6, "head")
    assert api.namespaces(namespaces.SELECTOR) == []


@pytest.mark.usefixtures("kube_env")
def test_node_port_is_read_from_the_service(
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path
) -> None:
    url = "http://127.0.0.1:{port}/{namespace}/{release}?via={node_port}"
    node_port = HelmConfig(
        port=services.port, timeout_s=20, url=url,
        set=(("service.type", "NodePort"), ("service.nodePort", "30080")),
    )  # fmt: skip
    with ExitStack() as stack:
        side = start(node_port, tmp_path, stack, 40, "head")
        assert side.node_port == 30080 and side.base_url.endswith("?via=30080")
    with pytest.raises(ServiceError, match=r"uses \{node_port\}.*type ClusterIP"):
        with ExitStack() as stack:
            start(replace(node_port, set=()), tmp_path, stack, 41, "head")
    assert plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_the_job_role_is_bound_in_the_namespace(
    api: Cluster, fake: FakeCluster, services: Services, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PLOG_KUBE_JOB_ROLE", "plog-job")
    monkeypatch.setenv("PLOG_KUBE_SERVICE_ACCOUNT", "plog-worker")
    monkeypatch.setenv("PLOG_KUBE_SERVICE_ACCOUNT_NAMESPACE", "plog")
    with ExitStack() as stack:
        start(helm_config(services.port), tmp_path, stack, 50, "head")
        [binding] = fake.objects("RoleBinding", "plog-pet-store-pr-7")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "plog-job",
        }  # fmt: skip
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "plog-worker", "namespace": "plog"}
        ]
    assert plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_no_health_answer_is_a_service_error_with_the_pods(
    api: Cluster, services: Services, tmp_path: Path
) -> None:
    helm = HelmConfig(port=services.port, timeout_s=20, url="http://127.0.0.1:{port}/nope")
    service = ServiceConfig(run="unused", health=HEALTH, startup_timeout_s=1)
    with ExitStack() as stack:
        side = start_helm_side(
            helm, service, tmp_path, where(tmp_path, 60, "head"), stack,
            image_repository="reg.example/team/pet", image_digest=DIGEST,
        )  # fmt: skip
        with pytest.raises(ServiceError) as info:
            side.wait_healthy()
    text = str(info.value)
    assert f"did not answer http://127.0.0.1:{services.port}/nope{HEALTH}" in text
    assert "HTTP 503" in text and "container service: ready" in text
    assert plog_namespaces(api) == []


@pytest.mark.usefixtures("kube_env")
def test_values_the_chart_refuses_are_said_so_and_leave_nothing(
    api: Cluster, services: Services, tmp_path: Path
) -> None:
    helm = helm_config(services.port, set=(("replicaCount", "$(id)"),))
    with pytest.raises(ConfigError) as info, ExitStack() as stack:
        start(helm, tmp_path, stack, 70, "head")
    text = str(info.value)
    assert "deploy.helm: the chart service refuses these values" in text
    assert "replicaCount" in text and "values.schema.json" in text
    assert api.namespaces(namespaces.SELECTOR) == []  # none was ever created
